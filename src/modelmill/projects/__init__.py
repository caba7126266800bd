"""Projects: a folder that declares one table and the model trained on it.

``modelmill init`` writes one (:mod:`modelmill.projects.scaffold`): ``conf/config.yaml`` (names,
data source, thresholds), ``conf/dataset/NAME.yaml`` (the dataset spec), a README, a
``.gitignore`` and a ``steps/`` package for the project's own steps. Every command then takes
its defaults from the project's config (:mod:`modelmill.projects.defaults`): the model it
serves, scores and monitors (``models:/<main.model_name>@prod``), the id column, the target.
"""
