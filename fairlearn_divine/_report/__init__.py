"""The audit behind ``fairlearn-divine audit``: computation, a self-contained HTML report, JSON.

:func:`run_audit` takes a fitted binary classifier and its training data and computes

* accuracy and fairness by group (a fairlearn ``MetricFrame``: accuracy, selection rate, TPR,
  TNR per group) and the hard value of the fairness objective;
* importance scores of every training point for the log loss and the fairness objective (one
  :func:`~fairlearn_divine.training_point_importance` call with a list of objectives;
  ``scores[i] = f(model without i) - f(model)``, negative = harmful);
* DIVINE points: :func:`~fairlearn_divine.select_diverse_influential` with ``harmful=True``
  for the fairness objective, with its gamma sweep (the influence-diversity trade-off);
* the effect of removing the suggested points (exact refits) and a removal curve
  (:func:`~fairlearn_divine.removal_curve`);
* a 2-D map of the training data (PCA of the model's numeric features).

:func:`render_html` writes all of it into one HTML file with the figures embedded as base64
PNG (matplotlib, Agg) and no external resource: no script, no remote font, stylesheet or image;
a Content-Security-Policy forbids them. Every string that comes from the data (column names,
category values, file names) is escaped with :func:`html.escape`. :func:`audit_to_json` gives
the machine-readable summary.

Modules: ``_compute`` (:func:`run_audit`), ``_readings`` (:func:`readings`, the plain-language
sentences), ``_figures`` (the matplotlib figures), ``_html`` (:func:`render_html`) and ``_json``
(:func:`audit_to_json`).
"""

from ._compute import run_audit
from ._html import render_html
from ._json import audit_to_json
from ._readings import readings

__all__ = ["audit_to_json", "readings", "render_html", "run_audit"]
