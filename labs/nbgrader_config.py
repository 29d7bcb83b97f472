"""nbgrader configuration for the course labs. Run nbgrader from this folder (see README)."""

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "genmodels-statphys"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# What a student sees where a solution was removed.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Generous per-cell limit for the sampling exercises; an infinite loop still ends.
c.Execute.timeout = 120

# Restore test cells a student deleted, not only ones they edited.
c.OverwriteCells.add_missing_cells = True
