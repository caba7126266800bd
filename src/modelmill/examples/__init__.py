"""Small example pipelines that show how steps are written (and run by ``make run``)."""
