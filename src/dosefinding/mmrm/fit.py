"""``mmrm()``: fit a mixed model for repeated measures as SAS PROC MIXED with a REPEATED statement.

The model is ``y_i ~ N(X_i beta, Sigma[o_i, o_i])`` for subject ``i`` observed at visits
``o_i``; ``Sigma`` follows a covariance structure over the visits (see
:mod:`dosefinding.mmrm.covariance`). ``beta`` is profiled out (generalised least squares),
the variance parameters maximise the (restricted) likelihood, and the inference on
``beta`` uses the model-based covariance ``(X'V^-1 X)^-1`` (or the empirical sandwich)
with Satterthwaite or residual degrees of freedom, as SAS's ``ddfm=`` and ``EMPIRICAL``.

One engine. :func:`mmrm` turns the formula and the data frame into the per-pattern sums of
one data set and fits them with :func:`dosefinding.mmrm.engine.fit_stats`, the batch of
one: the same likelihood, starting values, scaling and optimiser as
:func:`dosefinding.mmrm.fit_mmrm_batch` for thousands of simulated trials. The batch is
the vectorised single fit, rather than the single fit a loop over a batch, because the
simulation needs the speed of the arrays and the single fit loses nothing by being a batch
of one (its arrays only gain a leading axis of length 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mmrm.anova import type3_tests
from dosefinding.mmrm.covariance import CovarianceModel
from dosefinding.mmrm.data import MMRMData, covariance_model, prepare_data
from dosefinding.mmrm.data import pattern_stats as build_pattern_stats
from dosefinding.mmrm.empirical import empirical_cov
from dosefinding.mmrm.engine import fit_stats
from dosefinding.mmrm.identifiability import identifiability
from dosefinding.mmrm.inference import BetweenWithin, CoefficientInference, FTest, ResidualDF, Satterthwaite
from dosefinding.mmrm.kenward_roger import KENWARD_ROGER_STRUCTURES, kenward_roger
from dosefinding.mmrm.likelihood import Evaluation, PatternStats, covariance_blocks
from dosefinding.mmrm.lsmeans import LSMeans, lsmeans_batch
from dosefinding.mmrm.predict import predict as predict_rows
from dosefinding.mmrm.sas_iterations import sas_iterations, sas_model
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = ["DF_METHODS", "MMRMResult", "check_options", "mmrm"]

FloatArray = NDArray[np.float64]
DF_METHODS = ("satterthwaite", "residual", "between_within", "kenward_roger", "kenward_roger_linear")
VCOV_METHODS = ("asymptotic", "empirical")
OPTIMIZERS = ("newton", "sas")


@dataclass(frozen=True)
class MMRMResult(SummaryDisplay):
    """A fitted MMRM.

    Attributes
    ----------
    formula, covariance_structure, reml, vcov, df_method
        The model as fitted.
    coefficients
        Estimates of ``beta``, labelled by formulaic's design column names.
    coefficient_cov
        Their covariance: model-based ``(X'V^-1 X)^-1`` or the empirical sandwich.
    table
        SAS's "Solution for Fixed Effects": ``estimate, se, df, t, p`` per coefficient.
    covariance
        ``Sigma`` over the visits (SAS's R matrix of a subject with every visit, before
        weights); with ``group=``, one matrix per level, indexed by (level, visit).
    covariance_parameters
        The variance parameters as SAS's "Covariance Parameter Estimates" names them
        (with ``group=``, each followed by ``column=level``).
    m2_log_likelihood
        SAS's -2 Res Log Likelihood (REML) or -2 Log Likelihood (ML).
    aic, aicc, bic
        As SAS: ``+ 2 q``, ``+ 2 q n* / (n* - q - 1)`` with ``n* = n - p`` (REML) or ``n``
        (ML), and ``+ q log(s)`` with ``s`` the subjects read (SAS counts subjects whose
        rows are all unused too); ML adds the ``p`` fixed effects to ``q``.
    n_obs, n_subjects, n_subjects_read
        Observations and subjects used, and subjects read.
    aliased
        Design columns dropped as linearly dependent on the ones before them.
    converged
        Whether the optimiser met its criterion: for ``optimizer="newton"`` the Newton
        decrement below 1e-12 of the objective (``False`` means only SAS's own criterion,
        1e-8, was met); for ``optimizer="sas"`` SAS's relative Hessian criterion.
    optimizer
        Every optimiser run, in order, with the -2 log likelihood and Newton decrement it
        reached; the last one gave the result.
    theta
        The variance parameters as optimised: the structure's unconstrained parameters
        (:mod:`dosefinding.mmrm.covariance`), or SAS's for ``optimizer="sas"``.
    iteration_history
        With ``optimizer="sas"``, SAS's "Iteration History" (``Iteration``,
        ``Evaluations``, the objective, ``Criterion``; no criterion at iteration 0, the
        null model); ``None`` otherwise.
    """

    formula: str
    covariance_structure: str
    reml: bool
    vcov: str
    df_method: str
    coefficients: pd.Series
    coefficient_cov: pd.DataFrame
    table: pd.DataFrame
    covariance: pd.DataFrame
    covariance_parameters: pd.Series
    m2_log_likelihood: float
    aic: float
    aicc: float
    bic: float
    n_obs: int
    n_subjects: int
    n_subjects_read: int
    aliased: tuple[str, ...]
    converged: bool
    optimizer: tuple[str, ...]
    theta: FloatArray = field(repr=False)
    _data: MMRMData = field(repr=False, compare=False)
    _inference: CoefficientInference = field(repr=False, compare=False)
    iteration_history: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def df(self, contrasts: FloatArray) -> FloatArray:
        """Degrees of freedom (by :attr:`df_method`) of each row ``c`` (over :attr:`coefficients`) of ``contrasts``.

        Examples
        --------
        >>> from dosefinding import mmrm
        >>> from dosefinding.datasets import fev_data
        >>> fit = mmrm("FEV1 ~ ARMCD * AVISIT + RACE + SEX + FEV1_BL", fev_data(), subject="USUBJID", visit="AVISIT")
        >>> import numpy as np
        >>> bool(np.allclose(fit.df(np.eye(len(fit.coefficients))), fit.table["df"]))
        True
        """
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        if c.shape[1] != len(self.coefficients):
            raise InputError(f"contrasts: need {len(self.coefficients)} columns, got {c.shape[1]}")
        return self._inference.df(c)

    def f_test(self, hypothesis: FloatArray) -> FTest:
        """The F test of ``hypothesis @ coefficients = 0`` (SAS CONTRAST), with the df of :attr:`df_method`.

        Examples
        --------
        >>> from dosefinding import mmrm
        >>> from dosefinding.datasets import fev_data
        >>> fit = mmrm("FEV1 ~ ARMCD * AVISIT + RACE + SEX + FEV1_BL", fev_data(), subject="USUBJID", visit="AVISIT")
        >>> import numpy as np
        >>> test = fit.f_test(np.eye(len(fit.coefficients))[1:2])
        >>> test.num_df, bool(np.isclose(test.f, fit.table["t"].iloc[1] ** 2))
        (1, True)
        """
        rows = np.atleast_2d(np.asarray(hypothesis, dtype=float))
        if rows.shape[1] != len(self.coefficients):
            raise InputError(f"hypothesis: need {len(self.coefficients)} columns, got {rows.shape[1]}")
        return self._inference.f_test(self.coefficients.to_numpy(), rows)

    def lsmeans(
        self, specs: str, *, by: str | None = None, reference: object = None, confidence_level: float = 0.95,
        weights: str = "equal", margins: pd.DataFrame | None = None,
    ) -> LSMeans:
        """LS means of factor ``specs`` within each level of ``by``, and differences against ``reference``.

        Other factors are averaged with equal weights (``weights="equal"``, SAS LSMEANS,
        emmeans) or with their observed joint frequencies (``"proportional"``: SAS's
        ``OM`` / emmeans' ``"proportional"``, counted over the used rows or over the rows
        of ``margins``, e.g. the input data set as SAS does; see
        :mod:`dosefinding.mmrm.lsmeans`); numeric covariates are set to their mean.
        ``reference`` defaults to the first level of ``specs``.

        Examples
        --------
        >>> from dosefinding import mmrm
        >>> from dosefinding.datasets import fev_data
        >>> fit = mmrm("FEV1 ~ ARMCD * AVISIT + RACE + SEX + FEV1_BL", fev_data(), subject="USUBJID", visit="AVISIT")
        >>> fit.lsmeans("ARMCD", by="AVISIT").differences["estimate"].round(2).tolist()
        [3.98, 3.93, 2.98, 4.4]
        """
        return lsmeans_batch(
            self._data, self.coefficients.to_numpy(), self._inference,
            specs=specs, by=by, reference=reference, confidence_level=confidence_level,
            weights=weights, margins=margins,
        ).member(0)

    def predict(self, data: pd.DataFrame, *, conditional: bool = False) -> pd.DataFrame:
        """Fitted means ``X beta`` of the rows of ``data`` and, with ``conditional``, the missing visits given the observed ones.

        See :func:`dosefinding.mmrm.predict.predict` for the columns and what the standard
        errors include (as R mmrm's ``predict(conditional = TRUE)``).

        Examples
        --------
        >>> from dosefinding import mmrm
        >>> from dosefinding.datasets import fev_data
        >>> fit = mmrm("FEV1 ~ ARMCD * AVISIT + RACE + SEX + FEV1_BL", fev_data(), subject="USUBJID", visit="AVISIT")
        >>> patient = fev_data().query("USUBJID == 'PT1'")
        >>> patient["FEV1"].notna().tolist()
        [False, True, False, True]
        >>> fit.predict(patient, conditional=True)["observed"].tolist()
        [False, True, False, True]
        """
        return predict_rows(self, data, conditional=conditional)

    def type3(self) -> pd.DataFrame:
        """SAS's "Type 3 Tests of Fixed Effects": per term ``num_df, den_df, F, p``.

        With a factor interacting with a numeric variable the other terms are tested at the
        variable's value 0, as SAS does (see :mod:`dosefinding.mmrm.anova`). Raises
        :class:`InputError` for models without an intercept or not hierarchical.

        Examples
        --------
        >>> from dosefinding import mmrm
        >>> from dosefinding.datasets import fev_data
        >>> fit = mmrm("FEV1 ~ ARMCD * AVISIT + RACE + SEX + FEV1_BL", fev_data(), subject="USUBJID", visit="AVISIT")
        >>> fit.type3().index.tolist()
        ['ARMCD', 'AVISIT', 'RACE', 'SEX', 'FEV1_BL', 'ARMCD:AVISIT']
        """
        return type3_tests(self._data, self.coefficients.to_numpy(), self._inference)

    def _iteration_lines(self) -> list[str | SummaryTable]:
        if self.iteration_history is None:
            return []
        formats = {"Criterion": lambda v: "" if np.isnan(v) else f"{v:.8f}"}
        formats[str(self.iteration_history.columns[2])] = lambda v: f"{v:.8f}"
        return ["Iteration History", SummaryTable(self.iteration_history, index=False, formatters=formats), ""]

    def to_frame(self) -> pd.DataFrame:
        """The fixed effects: one row per coefficient (SAS's "Solution for Fixed Effects")."""
        return self.table.copy()

    def __repr__(self) -> str:
        return short_repr(self, formula=self.formula, covariance=self.covariance_structure,
                          method="REML" if self.reml else "ML", df_method=self.df_method, n_subjects=self.n_subjects,
                          n_obs=self.n_obs, m2_log_likelihood=self.m2_log_likelihood, converged=self.converged)

    def summary(self) -> Summary:
        """A printed summary laid out as SAS PROC MIXED's output."""
        likelihood = "-2 Res Log Likelihood" if self.reml else "-2 Log Likelihood"
        fit_stats = pd.Series(
            {likelihood: self.m2_log_likelihood, "AIC (Smaller is Better)": self.aic,
             "AICC (Smaller is Better)": self.aicc, "BIC (Smaller is Better)": self.bic}
        )
        table = self.table.copy()
        table["p"] = table["p"].map(lambda p: "<.0001" if p < 1e-4 else f"{p:.4f}")
        lines: list[str | SummaryTable] = [
            "MMRM fit",
            f"Formula: {self.formula}",
            (
                f"Covariance: {self.covariance_structure}, {'REML' if self.reml else 'ML'}, "
                f"{self.vcov} covariance of the estimates, {self.df_method} df; "
                f"{self.n_obs} observations from {self.n_subjects} subjects ({self.n_subjects_read} read)"
            ),
            f"Converged: {self.converged} ({self.optimizer[-1]})",
            "",
            *self._iteration_lines(),
            "Covariance Parameter Estimates",
            SummaryTable(self.covariance_parameters.round(4)),
            "",
            "Fit Statistics",
            SummaryTable(fit_stats.round(1)),
            "",
            "Solution for Fixed Effects",
            SummaryTable(table.round({"estimate": 4, "se": 4, "df": 0, "t": 2})),
        ]
        if self.aliased:
            lines += ["", f"Aliased columns dropped: {', '.join(self.aliased)}"]
        return Summary(lines, frame=self.to_frame())


def check_options(df_method: str, vcov: str, reml: bool, covariance: str) -> None:
    """:class:`InputError` for a df method, ``vcov`` and method that do not go together (or with ``covariance``).

    Shared by :func:`mmrm` and :func:`~dosefinding.mmrm.fit_mmrm_batch`.

    Examples
    --------
    >>> check_options("kenward_roger", "asymptotic", True, "us")
    """
    if df_method not in DF_METHODS:
        raise InputError(f"df_method: must be one of {DF_METHODS}, got {df_method!r}")
    if vcov not in VCOV_METHODS:
        raise InputError(f"vcov: must be one of {VCOV_METHODS}, got {vcov!r}")
    if vcov == "empirical" and df_method == "satterthwaite":
        raise InputError("df_method: 'satterthwaite' is not available with vcov='empirical'; use 'residual'")
    if df_method.startswith("kenward_roger"):
        if vcov == "empirical":
            raise InputError(f"df_method: {df_method!r} adjusts the model-based covariance; not available with "
                             "vcov='empirical' (as in SAS); use vcov='asymptotic'")
        if not reml:
            raise InputError(f"df_method: {df_method!r} is derived for REML; not available with reml=False")
        if df_method == "kenward_roger" and covariance not in KENWARD_ROGER_STRUCTURES:
            raise InputError(f"covariance: df_method='kenward_roger' needs SAS's parametrisation of {covariance!r}, "
                             f"implemented for {KENWARD_ROGER_STRUCTURES}; 'kenward_roger_linear' does not")


def mmrm(
    formula: str,
    data: pd.DataFrame,
    *,
    subject: str,
    visit: str,
    covariance: str = "us",
    reml: bool = True,
    df_method: str = "satterthwaite",
    vcov: str = "asymptotic",
    time: str | Sequence[str] | None = None,
    group: str | None = None,
    weights: str | None = None,
    optimizer: str = "newton",
    visit_order: str | Sequence[object] | None = None,
) -> MMRMResult:
    """Fit a mixed model for repeated measures (SAS PROC MIXED with REPEATED / SUBJECT=, TYPE=).

    Parameters
    ----------
    formula
        Fixed effects in Wilkinson notation (formulaic), e.g.
        ``"FEV1 ~ RACE + SEX + ARMCD * AVISIT"``; treatment coding with the first level as
        reference (SAS's coefficients use the last level; fitted values and LS means agree).
    data
        One row per subject and visit; rows with a missing value in a model variable are
        not used (subjects contribute the visits they have).
    subject, visit
        Columns identifying the subject and the visit. The visit order (which ``ar1``,
        ``toep``, ``ad`` and their heterogeneous versions depend on) is ``visit_order``
        if given, else the category order of a categorical column, the sorted values of
        a numeric one, or, for text labels that differ by one number (``"Week 2"``,
        ``"Week 12"``), that number; other text labels are refused by the structures
        that depend on the order (see :func:`dosefinding.mmrm.data.visit_levels`).
    covariance
        ``"us"`` (unstructured), ``"cs"`` (compound symmetry), ``"ar1"``, ``"toep"``
        (Toeplitz), ``"ad"`` (ante-dependence), their heterogeneous versions ``"csh"``,
        ``"ar1h"``, ``"toeph"``, ``"adh"`` (SAS ANTE(1)), or ``"sp_exp"`` (spatial
        exponential, with ``time``); see :mod:`dosefinding.mmrm.covariance`.
    reml
        Restricted maximum likelihood (SAS's default) or maximum likelihood.
    df_method
        ``"satterthwaite"``, ``"residual"`` (``n - p`` for every contrast),
        ``"between_within"`` (SAS ddfm=betwithin: between-subject df for coefficients
        constant within subjects, within-subject df for the others; see
        :mod:`dosefinding.mmrm.inference`),
        ``"kenward_roger"`` (SAS ddfm=kr: the adjusted covariance of the estimates, in
        SAS's covariance parameters, and Kenward-Roger df; REML only) or
        ``"kenward_roger_linear"`` (SAS ddfm=kr(linear): without the second-derivative
        term); see :mod:`dosefinding.mmrm.kenward_roger`.
    vcov
        ``"asymptotic"`` (model-based) or ``"empirical"`` (the sandwich, SAS's EMPIRICAL;
        with ``df_method="residual"``, as SAS computes no Satterthwaite df for it).
    time
        For ``covariance="sp_exp"``: a numeric column of the visit times (SAS's
        ``TYPE=SP(EXP)(time)``, distance ``|t_a - t_b|``), or a list of numeric
        coordinate columns (SAS's ``TYPE=SP(EXP)(c1 c2 ...)``, R mmrm's
        ``sp_exp(c1, c2 | subject)``: the Euclidean distance between the visits'
        coordinate vectors; a list of one column is the same as its name). The positions
        may differ between subjects and must differ between a subject's visits (with
        coordinates: not all equal). :attr:`MMRMResult.covariance` is then at each
        visit's mean time (mean of each coordinate).
    group
        Column (constant within subject) with a separate covariance matrix, of the same
        structure, per level (SAS's ``REPEATED / GROUP=``); the fixed effects are shared.
        :attr:`MMRMResult.covariance` is then indexed by (level, visit).
    weights
        Column of positive, finite weights (SAS's WEIGHT statement with REPEATED: subject
        ``i``'s covariance is ``W_i^-1/2 Sigma W_i^-1/2``). Rows with a missing weight are
        not used; zero, negative or infinite weights are an error (SAS drops them silently).
    optimizer
        ``"newton"``: Newton's method in a trust region to the optimum, with a fallback
        chain (:mod:`dosefinding.mmrm.optimize`). ``"sas"``: PROC MIXED's own iterations,
        MIVQUE0 starting values and Newton-Raphson in SAS's covariance parameters, stopping
        where SAS stops, to reproduce a SAS listing digit for digit (SAS can stop short
        of the optimum on a flat likelihood); :attr:`MMRMResult.iteration_history` is
        SAS's "Iteration History". Implemented for ``covariance="us"`` and ``"cs"``;
        see :mod:`dosefinding.mmrm.sas_iterations`.
    visit_order
        A numeric column with one value per visit giving their order (ADaM's AVISITN), or
        the list of the visits in order.

    Returns
    -------
    MMRMResult

    Raises
    ------
    InputError
        Naming the column, argument or value at fault.
    ConvergenceError
        Listing every optimiser run when none reached the optimum.

    Examples
    --------
    R mmrm's fev_data with SAS PROC MIXED's ``MODEL FEV1 = RACE SEX ARMCD|AVISIT / DDFM=SATTERTHWAITE;
    REPEATED AVISIT / SUBJECT=USUBJID TYPE=UN;`` (SAS: -2 Res Log Likelihood 3386.4499;
    ARMCD TRT 3.7745, standard error 1.0741, 146 df):

    >>> from dosefinding import mmrm
    >>> from dosefinding.datasets import fev_data
    >>> fit = mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT", fev_data(), subject="USUBJID", visit="AVISIT")
    >>> fit.converged, fit.covariance.shape, round(fit.m2_log_likelihood, 4)
    (True, (4, 4), 3386.4499)
    >>> fit.table.loc["ARMCD[T.TRT]", ["estimate", "se", "df"]].round(4).tolist()
    [3.7744, 1.0742, 145.5471]

    The default optimiser goes to the optimum; ``optimizer="sas"`` stops where SAS stops and
    gives its printed digits:

    >>> sas = mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT", fev_data(), subject="USUBJID", visit="AVISIT",
    ...            optimizer="sas")
    >>> row = sas.table.loc["ARMCD[T.TRT]"]
    >>> round(float(row["estimate"]), 4), round(float(row["se"]), 4), round(row["df"])
    (3.7745, 1.0741, 146)
    """
    check_options(df_method, vcov, reml, covariance)
    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer: must be one of {OPTIMIZERS}, got {optimizer!r}")
    prepared = prepare_data(formula, data, subject=subject, visit=visit, time=time, group=group, weights=weights,
                            visit_order=visit_order)
    structure = covariance_model(covariance, prepared)
    pattern_stats = build_pattern_stats(prepared, structure)
    if optimizer == "sas":
        structure = sas_model(structure)
        run = sas_iterations(pattern_stats, structure, reml=reml)
        last = run.history.iloc[-1]
        attempts = ((f"SAS Newton-Raphson from MIVQUE0: {int(last['Iteration'])} iterations, "
                     f"-2LL {last.iloc[2]:.8f}, criterion {last['Criterion']:.3g}"),)
        at = _Optimum(stats=pattern_stats, theta=run.phi, evaluation=run.evaluation, scale=1.0, theta_reported=run.phi,
                      m2ll=run.evaluation.value, converged=True, attempts=attempts)
    else:
        # SAS's own iterations run (and fail) where the model is not identifiable; ours refuse it first.
        reason = identifiability(pattern_stats, structure, reml=reml, subject=str(prepared.subjects.name),
                                 visits=list(prepared.visits))[0]
        if reason:
            raise InputError(reason)
        fit = fit_stats(pattern_stats, structure, reml=reml)
        if not fit.fitted[0]:
            raise ConvergenceError("MMRM fit did not converge; tried: " + "; ".join(fit.attempts[0]))
        at = _Optimum(stats=fit.stats, theta=fit.theta_scaled[0], evaluation=fit.evaluation.member(0),
                      scale=float(fit.scale[0]), theta_reported=fit.theta[0], m2ll=float(fit.m2_log_likelihood[0]),
                      converged=bool(fit.converged[0]), attempts=fit.attempts[0])
    inference = _inference(at, structure, prepared, df_method=df_method, vcov=vcov)
    return _result(formula, prepared, structure, reml, at, inference, settings=(vcov, df_method),
                   history=run.history if optimizer == "sas" else None)


@dataclass(frozen=True)
class _Optimum:
    """Where the optimiser stopped: the (scaled) data, ``theta`` and evaluation there, the response's scale.

    The fit runs on the response divided by ``scale`` (1 for ``optimizer="sas"``);
    ``theta_reported`` and ``m2ll`` are those of the response as given.
    """

    stats: PatternStats
    theta: FloatArray
    evaluation: Evaluation
    scale: float
    theta_reported: FloatArray
    m2ll: float
    converged: bool
    attempts: tuple[str, ...]


def _inference(at: _Optimum, structure: CovarianceModel, prepared: MMRMData, *, df_method: str,
               vcov: str) -> CoefficientInference:
    """The inference of ``df_method`` and ``vcov`` at the optimum, at the scale of the response as given."""
    evaluation = at.evaluation
    assert evaluation.hessian is not None and evaluation.q is not None
    inference: CoefficientInference
    if df_method == "satterthwaite":
        # cast: numpy's stubs type linalg results as floating[Any]
        inference = Satterthwaite(beta_cov=evaluation.beta_cov, q=evaluation.q,
                                  theta_cov=cast(FloatArray, 2.0 * np.linalg.inv(evaluation.hessian)))
    elif df_method.startswith("kenward_roger"):
        inference = kenward_roger(at.stats, structure, at.theta, evaluation, linear=df_method == "kenward_roger_linear")
    else:
        beta_cov = evaluation.beta_cov
        if vcov == "empirical":
            beta_cov = empirical_cov(at.stats, covariance_blocks(at.stats, structure, at.theta)[1], evaluation.beta,
                                     beta_cov)
        if df_method == "between_within":
            inference = BetweenWithin.from_design(beta_cov, prepared.x, prepared.subject)
        else:
            inference = ResidualDF(beta_cov=beta_cov, residual_df=len(prepared.y) - len(prepared.columns))
    return inference.scaled(at.scale)


def _covariance_frame(model: CovarianceModel, theta: FloatArray, visits: list[str]) -> pd.DataFrame:
    """``Sigma`` over the visits; with groups, stacked and indexed by (level, visit)."""
    matrices = model.matrices(theta)
    if model.column is None:
        return pd.DataFrame(matrices[0], index=visits, columns=visits)
    index = pd.MultiIndex.from_product([list(model.groups), visits], names=[model.column, "visit"])
    return pd.DataFrame(np.vstack(matrices), index=index, columns=visits)


def _result(
    formula: str,
    data: MMRMData,
    structure: CovarianceModel,
    reml: bool,
    at: _Optimum,
    inference: CoefficientInference,
    *,
    settings: tuple[str, str],
    history: pd.DataFrame | None = None,
) -> MMRMResult:
    names = list(data.columns)
    beta = at.evaluation.beta * at.scale
    se = np.sqrt(np.diag(inference.beta_cov))
    df = inference.df(np.eye(len(names)))
    t = beta / se
    table = pd.DataFrame(
        {"estimate": beta, "se": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df)},
        index=names,
    )
    n_obs, p = len(data.y), len(names)
    q = structure.n_params + (0 if reml else p)
    n_star = n_obs - p if reml else n_obs
    m2ll = at.m2ll
    visits = [str(v) for v in data.visits]
    theta = at.theta_reported
    return MMRMResult(
        formula=formula,
        covariance_structure=structure.structure.name,
        reml=reml,
        vcov=settings[0],
        df_method=settings[1],
        coefficients=pd.Series(beta, index=names),
        coefficient_cov=pd.DataFrame(inference.beta_cov, index=names, columns=names),
        table=table,
        covariance=_covariance_frame(structure, theta, visits),
        covariance_parameters=pd.Series(structure.sas_parameters(theta)),
        m2_log_likelihood=m2ll,
        aic=m2ll + 2 * q,
        aicc=m2ll + 2 * q * n_star / (n_star - q - 1),
        bic=m2ll + q * np.log(data.n_subjects_read),
        n_obs=n_obs,
        n_subjects=len(data.subjects),
        n_subjects_read=data.n_subjects_read,
        aliased=data.aliased,
        converged=at.converged,
        optimizer=at.attempts,
        theta=theta,
        _data=data,
        _inference=inference,
        iteration_history=history,
    )
