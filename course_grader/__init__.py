"""Instructor tools for the course labs: release student versions, and grade a class safely.

Built on nbgrader's notebook format and gradebook. Student code runs in a sandboxed kernel
(``sandbox``); the graded notebook is assembled from the instructor's source so tests cannot be
edited (``notebooks``); code that could tamper with the checks is flagged (``policy``); marks are
decided in the grader process (``grade``).
"""
