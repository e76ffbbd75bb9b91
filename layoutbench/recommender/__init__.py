"""Recommending: a source's recommendation (:mod:`.source`: opening it, every dataset), one
dataset's search over the cost model (:mod:`.dataset`), ``--measure`` (:mod:`.measured`), the
stored calibration of the model's constants (:mod:`.calibration`) and many files at once
(:mod:`.many`).

Above ``run/``, through which ``--measure`` measures; the nouns it answers with are
:mod:`layoutbench.plan.recommendation` (``layoutbench.Recommendation`` is
:class:`layoutbench.results.Recommendation`).

Named ``recommender``, not ``recommend``: importing a subpackage ``layoutbench.recommend``
would make it the package's attribute ``recommend`` in place of the public function
(``layoutbench.recommend(...)``).
"""
