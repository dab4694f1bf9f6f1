"""The design page (``dosefinding design-app``): a local page to design a dose-finding trial.

The user picks doses, candidate shapes with guesstimates, sigma, patients per arm, alpha and the
alternative; the page shows the candidate curves, the optimal contrasts and their correlation,
the power under each shape and the sample size for a target power, recomputed as they type, and
exports the design as a trial spec. Modules: :mod:`~dosefinding.design.app.inputs` (the form,
checked field by field), :mod:`~dosefinding.design.app.results` (the numbers, from the library's
functions), :mod:`~dosefinding.design.app.spec_export` (the trial spec),
:mod:`~dosefinding.design.app.server` (``http.server``: the page and its JSON API).
"""
