"""Public data sets for examples, tutorials and tests, each loadable with one call.

Every function takes no argument and returns a new :class:`pandas.DataFrame` (the CDISC pilot:
a dict of them) with the column names of its source, so code written for the R packages
reads the same columns (DoseFinding's ``dose``, ``resp``; mmrm's ``USUBJID``, ``AVISIT``,
``ARMCD``, ``FEV1``...). :func:`catalog` lists them with their sources and licences.

- :func:`biom`: DoseFinding ``biom``, 100 patients on 5 doses (GPL-3, R DoseFinding).
- :func:`ibs_covars`: DoseFinding ``IBScovars``, 369 patients with gender (GPL-3, R DoseFinding).
- :func:`glycobrom`: DoseFinding ``glycobrom``, LS means and SEs at 5 doses (GPL-3, R DoseFinding).
- :func:`migraine`: DoseFinding ``migraine``, responders at 8 doses (GPL-3, R DoseFinding).
- :func:`neurodeg`: DoseFinding ``neurodeg``, longitudinal, 250 patients (GPL-3, R DoseFinding).
- :func:`fev_data`: mmrm ``fev_data``, FEV1 at 4 visits, 200 patients (Apache-2.0, R mmrm).
- :func:`bcva_data`: mmrm ``bcva_data``, BCVA at 10 visits, 1000 patients (Apache-2.0, R mmrm).
- :func:`antidepressant_data`: rbmi ``antidepressant_data``, HAMD17 at 4 visits, 172 patients (Apache-2.0,
  R rbmi; DIA working group on estimands and missing data).
- :func:`cdisc_pilot`: the CDISC pilot CDISCPILOT01 ADaM tables adsl, adae, adqsadas, adqscibc
  (CDISC terms: for education and testing, unaltered, crediting CDISC); :func:`cdisc_pilot_path`
  is their folder.

The DoseFinding data were exported from R DoseFinding 1.0-3 by ``make_data.R`` (in the source
repository beside this file, not in the wheel), every number reading back bit-identical;
mmrm's are CSV exports of its data sets (mmrm 0.3.18); rbmi's ``antidepressant_data`` was exported
by ``make_rbmi_data.R`` from rbmi's repository (commit 5961fa07); the CDISC pilot files are CDISC's,
unaltered (``adqsadas.csv`` is a value-identical CSV copy of the pilot's ``adqsadas.xpt``, its
column names in lower case, which :func:`cdisc_pilot` upper-cases as ``read_adam`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from dosefinding.adam import read_adam

__all__ = [
    "antidepressant_data",
    "bcva_data",
    "biom",
    "catalog",
    "cdisc_pilot",
    "cdisc_pilot_path",
    "fev_data",
    "glycobrom",
    "ibs_covars",
    "migraine",
    "neurodeg",
]

_DOSEFINDING_URL = "https://CRAN.R-project.org/package=DoseFinding"
_DOSEFINDING_LICENCE = "GPL-3 (data of R package DoseFinding 1.0-3, Bornkamp, Pinheiro, Bretz, Sandig)"
_MMRM_URL = "https://github.com/openpharma/mmrm"
_MMRM_LICENCE = "Apache-2.0 (data of R package mmrm 0.3.18, simulated)"
_RBMI_URL = "https://github.com/openpharma/rbmi"
_RBMI_LICENCE = (
    "Apache-2.0 (data of R package rbmi, from the DIA Scientific Working Group on Estimands and Missing Data, "
    "masked data of Goldstein et al. 2004)"
)
_CDISC_URL = "https://github.com/cdisc-org/sdtm-adam-pilot-project"
_CDISC_LICENCE = (
    "CDISC terms: provided by CDISC for education and testing; must not be altered; "
    "redistribution must credit CDISC as the source"
)
_CDISC_TABLES = ("adsl", "adae", "adqsadas", "adqscibc")
_CDISC_FILES = {"adsl": "adsl.xpt", "adae": "adae.xpt", "adqsadas": "adqsadas.csv", "adqscibc": "adqscibc.xpt"}


@dataclass(frozen=True)
class _Entry:
    name: str
    title: str
    rows: int
    source: str
    licence: str
    url: str


_CATALOG = (
    _Entry(
        "biom",
        "Biometrics dose-response data: 100 patients on doses 0, 0.05, 0.2, 0.6, 1 (DoseFinding biom)",
        100,
        "Bretz, F., Pinheiro, J. C. and Branson, M. (2005). Combining multiple comparisons and modeling "
        "techniques in dose-response studies. Biometrics 61, 738-748",
        _DOSEFINDING_LICENCE,
        _DOSEFINDING_URL,
    ),
    _Entry(
        "ibs_covars",
        "Irritable bowel syndrome dose-ranging trial with gender: 369 patients, placebo and 4 blinded doses "
        "(DoseFinding IBScovars)",
        369,
        "Biesheuvel, E. and Hothorn, L. A. (2002). Many-to-one comparisons in stratified designs. "
        "Biometrical Journal 44, 101-116",
        _DOSEFINDING_LICENCE,
        _DOSEFINDING_URL,
    ),
    _Entry(
        "glycobrom",
        "Glycopyrronium bromide in COPD: trough FEV1 least-squares means and standard errors at 5 doses "
        "(DoseFinding glycobrom)",
        5,
        "ClinicalTrials.gov NCT00501852, posted results",
        _DOSEFINDING_LICENCE,
        _DOSEFINDING_URL,
    ),
    _Entry(
        "migraine",
        "Acute migraine: patients pain free at 2 hours per dose, 8 doses (DoseFinding migraine)",
        8,
        "ClinicalTrials.gov NCT00712725, posted results",
        _DOSEFINDING_LICENCE,
        _DOSEFINDING_URL,
    ),
    _Entry(
        "neurodeg",
        "Simulated neurodegenerative disease trial: functional scale every 3 months, 250 patients on 5 doses "
        "(DoseFinding neurodeg)",
        1250,
        "Pinheiro, J. C., Bornkamp, B., Glimm, E. and Bretz, F. (2014). Model-based dose finding under model "
        "uncertainty using general parametric models. Statistics in Medicine 33, 1646-1661",
        _DOSEFINDING_LICENCE,
        _DOSEFINDING_URL,
    ),
    _Entry(
        "fev_data",
        "Simulated COPD trial: FEV1 at 4 visits, 200 patients in 2 arms, with missing values (mmrm fev_data)",
        800,
        "R package mmrm 0.3.18 (openpharma/mmrm), data set fev_data",
        _MMRM_LICENCE,
        _MMRM_URL,
    ),
    _Entry(
        "bcva_data",
        "Simulated ophthalmology trial: BCVA change from baseline at 10 visits, 1000 patients in 2 arms "
        "(mmrm bcva_data)",
        8605,
        "R package mmrm 0.3.18 (openpharma/mmrm), data set bcva_data",
        _MMRM_LICENCE,
        _MMRM_URL,
    ),
    _Entry(
        "antidepressant_data",
        "Antidepressant trial: HAMD17 change from baseline at weeks 1, 2, 4, 6 (visits 4 to 7), 172 patients, "
        "drug vs placebo, with dropout (rbmi antidepressant_data)",
        608,
        "DIA Scientific Working Group on Estimands and Missing Data example data (Mallinckrodt et al.), masked "
        "from Goldstein, Lu, Detke, Wiltse, Mallinckrodt, Demitrack (2004), J Clin Psychopharmacol 24, 389-399; "
        "distributed in R package rbmi (openpharma/rbmi, data/antidepressant_data.rda)",
        _RBMI_LICENCE,
        _RBMI_URL,
    ),
    _Entry(
        "cdisc_pilot",
        "CDISC SDTM/ADaM Pilot 01 (xanomeline in Alzheimer's disease, 254 subjects, 3 arms): ADaM adsl (254 "
        "rows), adae (1191), adqsadas (12463), adqscibc (730); rows is their total",
        254 + 1191 + 12463 + 730,
        "CDISC SDTM/ADaM Pilot Project, study CDISCPILOT01 (data courtesy of CDISC)",
        _CDISC_LICENCE,
        _CDISC_URL,
    ),
)


def _data() -> Path:
    return Path(str(resources.files("dosefinding.datasets").joinpath("data")))


def biom() -> pd.DataFrame:
    """DoseFinding's ``biom``: the dose-response data of Bretz, Pinheiro and Branson (2005).

    100 patients, 20 on each of the doses 0, 0.05, 0.2, 0.6 and 1, with a normal response;
    the data set of R DoseFinding's ``MCPMod`` examples.

    Returns
    -------
    pandas.DataFrame
        Columns ``dose`` and ``resp`` (floats), in R's row order.

    Notes
    -----
    Source: Bretz, F., Pinheiro, J. C. and Branson, M. (2005). Combining multiple comparisons
    and modeling techniques in dose-response studies. *Biometrics* 61, 738-748. Distributed in
    R package DoseFinding (https://CRAN.R-project.org/package=DoseFinding), licence GPL-3;
    exported by ``make_data.R``.

    Examples
    --------
    >>> from dosefinding.datasets import biom
    >>> data = biom()
    >>> data.groupby("dose")["resp"].size().tolist()
    [20, 20, 20, 20, 20]
    """
    return pd.read_csv(_data() / "biom.csv")


def ibs_covars() -> pd.DataFrame:
    """DoseFinding's ``IBScovars``: an irritable bowel syndrome dose-ranging trial with gender.

    369 patients on placebo and four blinded doses (1 to 4); ``resp`` is a baseline-adjusted
    abdominal pain score (larger is better). ``gender`` is R's factor, kept as its labels
    ``"1"`` and ``"2"`` so that it stays a categorical covariate.

    Returns
    -------
    pandas.DataFrame
        Columns ``gender`` (str), ``resp`` (float) and ``dose`` (int).

    Notes
    -----
    Source: a subset of the data of Biesheuvel, E. and Hothorn, L. A. (2002). Many-to-one
    comparisons in stratified designs. *Biometrical Journal* 44, 101-116. Distributed in R
    package DoseFinding (https://CRAN.R-project.org/package=DoseFinding), licence GPL-3;
    exported by ``make_data.R``.

    Examples
    --------
    >>> from dosefinding.datasets import ibs_covars
    >>> ibs_covars()["gender"].value_counts().sort_index().to_dict()
    {'1': 118, '2': 251}
    """
    return pd.read_csv(_data() / "ibscovars.csv", dtype={"gender": str})


def glycobrom() -> pd.DataFrame:
    """DoseFinding's ``glycobrom``: glycopyrronium bromide in COPD, summary estimates per dose.

    Least-squares means of trough FEV1 after 7 days (``fev1``, litres), their standard errors
    (``sdev``) and the number analysed (``n``) at doses 0, 12.5, 25, 50 and 100 µg, from a
    four-period incomplete cross-over trial: the input of MCP-Mod on summary data.

    Returns
    -------
    pandas.DataFrame
        Columns ``dose``, ``fev1``, ``sdev`` (floats) and ``n`` (int), one row per dose.

    Notes
    -----
    Source: ClinicalTrials.gov NCT00501852, posted results. Distributed in R package
    DoseFinding (https://CRAN.R-project.org/package=DoseFinding), licence GPL-3; exported by
    ``make_data.R``.

    Examples
    --------
    >>> from dosefinding.datasets import glycobrom
    >>> glycobrom()[["dose", "fev1"]].iloc[0].tolist()
    [0.0, 1.243]
    """
    return pd.read_csv(_data() / "glycobrom.csv", dtype={"n": int})


def migraine() -> pd.DataFrame:
    """DoseFinding's ``migraine``: patients pain free 2 hours after dosing, per dose.

    A randomised placebo-controlled dose-response trial in acute migraine with 8 dose groups
    (0 to 200): the number of patients treated (``ntrt``) and pain free (``painfree``).

    Returns
    -------
    pandas.DataFrame
        Columns ``dose`` (float), ``painfree`` and ``ntrt`` (ints), one row per dose.

    Notes
    -----
    Source: ClinicalTrials.gov NCT00712725, posted results. Distributed in R package
    DoseFinding (https://CRAN.R-project.org/package=DoseFinding), licence GPL-3; exported by
    ``make_data.R``.

    Examples
    --------
    >>> from dosefinding.datasets import migraine
    >>> int(migraine()["ntrt"].sum())
    517
    """
    return pd.read_csv(_data() / "migraine.csv")


def neurodeg() -> pd.DataFrame:
    """DoseFinding's ``neurodeg``: a simulated longitudinal trial in a neurodegenerative disease.

    250 patients, 50 on each of placebo and 1, 3, 10, 30 mg, with a functional scale (``resp``,
    smaller is worse) at months 0, 3, 6, 9 and 12 (``time``); the drug is meant to slow the
    linear decline. The example of generalized MCP-Mod on slopes from a mixed model.

    Returns
    -------
    pandas.DataFrame
        Columns ``resp`` (float), ``id`` (int), ``dose`` and ``time`` (floats), 5 rows per patient.

    Notes
    -----
    Source: simulated for Pinheiro, J. C., Bornkamp, B., Glimm, E. and Bretz, F. (2014).
    Model-based dose finding under model uncertainty using general parametric models.
    *Statistics in Medicine* 33, 1646-1661. Distributed in R package DoseFinding
    (https://CRAN.R-project.org/package=DoseFinding), licence GPL-3; exported by ``make_data.R``.

    Examples
    --------
    >>> from dosefinding.datasets import neurodeg
    >>> data = neurodeg()
    >>> data["id"].nunique(), sorted(data["time"].unique().tolist())
    (250, [0.0, 3.0, 6.0, 9.0, 12.0])
    """
    return pd.read_csv(_data() / "neurodeg.csv", dtype={"dose": float, "time": float})


def fev_data() -> pd.DataFrame:
    """mmrm's ``fev_data``: a simulated COPD trial with FEV1 at four visits.

    200 patients (``USUBJID``) in two arms (``ARMCD``: ``PBO``, ``TRT``), visits ``VIS1`` to
    ``VIS4`` (``AVISIT``), 800 rows of which 263 have ``FEV1`` missing (NaN). The data set of R
    mmrm's examples and of its SAS PROC MIXED comparisons. ``SEX`` is categorical with R's
    levels ``Male``, ``Female`` (in that order), so coefficients are named as in R and SAS;
    the other text columns are strings whose sorted order is R's level order.

    Returns
    -------
    pandas.DataFrame
        Columns ``USUBJID``, ``AVISIT``, ``ARMCD``, ``RACE``, ``SEX``, ``FEV1_BL``, ``FEV1``,
        ``WEIGHT``, ``VISITN``, ``VISITN2``.

    Notes
    -----
    Source: R package mmrm 0.3.18 (https://github.com/openpharma/mmrm), licence Apache-2.0;
    simulated data.

    Examples
    --------
    >>> from dosefinding.datasets import fev_data
    >>> data = fev_data()
    >>> data.shape, int(data["FEV1"].notna().sum())
    ((800, 10), 537)
    """
    data = pd.read_csv(_data() / "mmrm" / "fev_data.csv")
    data["SEX"] = pd.Categorical(data["SEX"], categories=["Male", "Female"])
    return data


def bcva_data() -> pd.DataFrame:
    """mmrm's ``bcva_data``: a simulated ophthalmology trial with BCVA at ten visits.

    1000 patients (``USUBJID``, kept as text) in two arms (``ARMCD``: ``CTL``, ``TRT``), visits
    ``VIS01`` to ``VIS10``; ``BCVA_CHG`` is the change from baseline of best corrected visual
    acuity, ``BCVA_BL`` the baseline. Rows of missed visits are absent (8605 of 10000).

    Returns
    -------
    pandas.DataFrame
        Columns ``USUBJID``, ``VISITN``, ``AVISIT``, ``ARMCD``, ``RACE``, ``BCVA_BL``, ``BCVA_CHG``.

    Notes
    -----
    Source: R package mmrm 0.3.18 (https://github.com/openpharma/mmrm), licence Apache-2.0;
    simulated data.

    Examples
    --------
    >>> from dosefinding.datasets import bcva_data
    >>> data = bcva_data()
    >>> data["USUBJID"].nunique(), sorted(data["ARMCD"].unique().tolist())
    (1000, ['CTL', 'TRT'])
    """
    return pd.read_csv(_data() / "mmrm" / "bcva_data.csv", dtype={"USUBJID": str})


def antidepressant_data() -> pd.DataFrame:
    """rbmi's ``antidepressant_data``: an antidepressant trial with dropout, the example of reference-based imputation.

    172 patients (``PATIENT``) on ``DRUG`` or ``PLACEBO`` (``THERAPY``) with the change from
    baseline of the Hamilton 17-item depression scale (``CHANGE``; baseline ``BASVAL``) at
    visits ``"4"`` to ``"7"`` (weeks 1, 2, 4, 6; ``VISIT``). Rows of missed visits are absent
    (608 of 688): data after discontinuation of study drug are missing, and one visit
    (patient 3618) is missing in between. The data set of rbmi's vignettes and of Wolbers et
    al. (2022).

    Returns
    -------
    pandas.DataFrame
        Columns ``PATIENT``, ``HAMATOTL``, ``PGIIMP``, ``RELDAYS``, ``VISIT``, ``THERAPY``,
        ``GENDER``, ``POOLINV``, ``BASVAL``, ``HAMDTL17``, ``CHANGE``; ``PATIENT``, ``VISIT``
        and ``POOLINV`` are text.

    Notes
    -----
    Source: the Drug Information Association Scientific Working Group on Estimands and Missing
    Data; the original trial is Goldstein, Lu, Detke, Wiltse, Mallinckrodt, Demitrack (2004),
    Duloxetine in the treatment of depression, *J Clin Psychopharmacol* 24, 389-399, masked by
    the working group (week 8 removed, the three active arms pooled into ``DRUG``).
    Distributed in R package rbmi (https://github.com/openpharma/rbmi), licence Apache-2.0;
    exported by ``make_rbmi_data.R``.

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> data = antidepressant_data()
    >>> data["PATIENT"].nunique(), data.groupby("THERAPY")["PATIENT"].nunique().to_dict()
    (172, {'DRUG': 84, 'PLACEBO': 88})
    """
    return pd.read_csv(_data() / "rbmi" / "antidepressant_data.csv",
                       dtype={"PATIENT": str, "VISIT": str, "POOLINV": str})


def cdisc_pilot_path() -> Path:
    """The folder holding the CDISC pilot's ADaM files, for analysis specs and the command line.

    It holds ``adsl.xpt``, ``adae.xpt``, ``adqscibc.xpt`` and ``adqsadas.csv`` exactly as CDISC
    distributes them, and a ``README.md`` with their terms. Read them from here; do not write
    into it (the files must not be altered).

    Returns
    -------
    pathlib.Path
        The installed folder.

    Notes
    -----
    Source: CDISC SDTM/ADaM Pilot Project, study CDISCPILOT01
    (https://github.com/cdisc-org/sdtm-adam-pilot-project). CDISC provides these data for
    education and testing; they must not be altered, and any redistribution must credit
    CDISC as their source. Data courtesy of CDISC.

    Examples
    --------
    >>> from dosefinding.datasets import cdisc_pilot_path
    >>> sorted(file.name for file in cdisc_pilot_path().glob("*.xpt"))
    ['adae.xpt', 'adqscibc.xpt', 'adsl.xpt']
    """
    return _data() / "cdiscpilot01"


def cdisc_pilot() -> dict[str, pd.DataFrame]:
    """The CDISC pilot CDISCPILOT01 ADaM tables, read as :func:`dosefinding.read_adam` reads them.

    Xanomeline transdermal therapy in mild to moderate Alzheimer's disease: placebo, 54 mg
    ("Xanomeline Low Dose") and 81 mg ("Xanomeline High Dose"), 254 subjects. ``adsl`` is
    subject level, ``adae`` the adverse events, ``adqsadas`` the ADAS-Cog(11) item and total
    scores (primary endpoint ``PARAMCD == "ACTOT"``), ``adqscibc`` the CIBIC+ scores. Column
    names are upper case; variable labels are in ``frame.attrs["labels"]``, and BDS tables
    carry ``frame.attrs["parameters"]``.

    Returns
    -------
    dict of str to pandas.DataFrame
        Keys ``"adsl"``, ``"adae"``, ``"adqsadas"``, ``"adqscibc"``.

    Notes
    -----
    Source: CDISC SDTM/ADaM Pilot Project, study CDISCPILOT01
    (https://github.com/cdisc-org/sdtm-adam-pilot-project); the files are shipped unaltered
    (:func:`cdisc_pilot_path`). CDISC provides these data for education and testing; they
    must not be altered, and any redistribution must credit CDISC as their source. Data
    courtesy of CDISC.

    Examples
    --------
    >>> from dosefinding.datasets import cdisc_pilot
    >>> adam = cdisc_pilot()
    >>> {name: len(frame) for name, frame in adam.items()}
    {'adsl': 254, 'adae': 1191, 'adqsadas': 12463, 'adqscibc': 730}
    >>> adam["adsl"].attrs["labels"]["AGE"]
    'Age'
    """
    folder = cdisc_pilot_path()
    return {name: read_adam(folder / _CDISC_FILES[name]) for name in _CDISC_TABLES}


def catalog() -> pd.DataFrame:
    """The data sets of this module with their sources and licences.

    Returns
    -------
    pandas.DataFrame
        One row per data set, columns ``name`` (the function that loads it), ``title``,
        ``rows`` (for ``cdisc_pilot``, the total over its four tables), ``source``,
        ``licence`` and ``url``.

    Examples
    --------
    >>> from dosefinding.datasets import catalog
    >>> table = catalog()
    >>> table["name"].tolist()[-3:]
    ['bcva_data', 'antidepressant_data', 'cdisc_pilot']
    >>> table.set_index("name").loc["fev_data", "licence"]
    'Apache-2.0 (data of R package mmrm 0.3.18, simulated)'
    """
    return pd.DataFrame(
        [(e.name, e.title, e.rows, e.source, e.licence, e.url) for e in _CATALOG],
        columns=["name", "title", "rows", "source", "licence", "url"],
    )
