"""Instructor tools for the course labs: release student versions, and grade a class safely.

Built on nbgrader's notebook format and gradebook. Student code runs in an unprivileged sandboxed
kernel with a minimal root (``sandbox``); the notebook that runs is assembled from the instructor's
source and the student's solution cells, without the test cells (``notebooks``); marks come from
graded items described next to each lab (``labs/items/LAB.py``): the kernel calls the student's
functions on hidden inputs, returns plain arrays, and the grader compares them with ``course_lib``
(``items``, ``grade``). Code that reaches into the interpreter is flagged for review (``policy``),
which never changes a mark.
"""
