"""The randomisation web service (FastAPI): roles, tokens, role-filtered responses, pages.

Roles and what they see:

- ``investigator``: bound to sites; screens, randomises and views subjects of those sites;
  sees the randomisation and kit numbers, never the arm, except through an emergency
  unblinding of one subject (a privilege granted under the two-person rule; an electronic
  signature with password, TOTP code, meaning and reason; logged, notified and reported);
  corrects a wrong site, stratum or screening value of its sites
  (``POST /api/subjects/{id}/corrections``: old value, new value and reason recorded; moving
  a subject to another site needs both sites).
- ``pharmacist`` (unblinded): the arm and kit of a subject, to prepare the syringe.
- ``dmc`` (unblinded statistician of the Data Monitoring Committee): aggregate reports by
  arm, the list export, ADSL with TRT01P.
- ``blinded_statistician``: blinded reports, ADSL without TRT01P.
- ``auditor``: the audit trail and its verification, list verification.
- ``admin``: sets up the study, creates accounts of blinded roles, proposes grants.
- ``sponsor``: approves (or rejects) grants of unblinded roles and privileges.

Accounts log in with a password (``POST /api/auth/login``) and send the session token as
``Authorization: Bearer <token>``; see :mod:`dosefinding.randomization.accounts`.

Every response is a pydantic model with explicit fields, so a field that is not in the
role's model cannot reach it; no error message names an arm. Every successful action is
one transaction together with its audit record; a refused request (any 4xx) changes
nothing, the audit trail included, except refused logins, signatures, grants and
unblindings, which are recorded. One database holds one study, which cannot be changed once
set up. A seed given at set-up lets whoever knows it regenerate the list: the server draws a
secret 128-bit one (and another for the kit numbers), and a seed chosen by a user needs
``user_seed: true``; only the DMC's list export shows them, and only unblinded roles see the
list's digest.

Hardening (:mod:`dosefinding.randomization.security`): a request body over 1 MiB is refused
with 413 before it is read; every response carries a content security policy without
third-party sources, frame and content-type protections and ``Cache-Control: no-store``;
the API docs are off unless ``api_docs=True``, and then only the OpenAPI schema (JSON, no
third-party JavaScript) is served. Plain reads write nothing; reads that disclose arms
(pharmacy view, unblinded report and exports) are recorded in the audit trail, and so are
logins, refusals and failures (security events, not plain reads).
"""

# No `from __future__ import annotations`: FastAPI needs the route annotations evaluated in place.

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from dosefinding.errors import InputError
from dosefinding.randomization.accounts import GRANTS, MAX_ACCOUNT_HOURS, username_of
from dosefinding.randomization.operations import audit_csv, audit_html
from dosefinding.randomization.pages import PHARMACY_PAGE, SITE_PAGE
from dosefinding.randomization.security import LIMITS, BodyLimit, SecurityHeaders, content_security_policy
from dosefinding.randomization.signatures import UNBLINDING_MEANING
from dosefinding.randomization.store import ROLES, Actor, ServiceError, Store

__all__ = ["create_app"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudySetup(_Model):
    name: str = Field(min_length=1, max_length=200)
    arms: list[str] = Field(min_length=2, max_length=LIMITS["arms"])
    ratio: list[Annotated[int, Field(ge=1, le=LIMITS["ratio_entry"])]] | None = None
    strata: dict[str, list[str]] = Field(default_factory=dict, max_length=LIMITS["factors"])
    method: Literal["permuted_blocks", "minimisation"] = "permuted_blocks"
    block_multiples: list[Annotated[int, Field(ge=1, le=LIMITS["block_multiple"])]] = Field(
        default_factory=lambda: [1, 2], min_length=1, max_length=LIMITS["block_multiples"])
    n_per_stratum: int = Field(ge=1, le=LIMITS["n_per_stratum"])
    seed: int | None = Field(default=None, ge=0, le=2 ** LIMITS["seed_bits"] - 1,
                             description="leave out: the server draws a secret one (a user seed needs user_seed)")
    kit_seed: int | None = Field(default=None, ge=0, le=2 ** LIMITS["seed_bits"] - 1,
                                 description="seed of the kit numbers; leave out like seed")
    user_seed: bool = Field(default=False, description="accept seed / kit_seed chosen by a user (validation only)")
    p: float = Field(default=0.8, gt=0, le=1)
    eligibility: list[dict[str, Any]] | None = Field(default=None, max_length=LIMITS["rules"])
    doses: dict[str, Annotated[float, Field(allow_inf_nan=False)]] | None = None


class UserCreate(_Model):
    username: str = Field(min_length=1, max_length=100)
    role: Literal[ROLES]  # type: ignore[valid-type]  # a runtime tuple: pydantic checks it
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    sites: list[str] | None = Field(default=None, max_length=1000)
    ttl_hours: float | None = Field(default=None, gt=0, le=MAX_ACCOUNT_HOURS, allow_inf_nan=False,
                                    description="account validity")


class Revocation(_Model):
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class AdminAction(_Model):
    reason: str = Field(min_length=1, max_length=500)


class GrantProposal(_Model):
    username: str = Field(min_length=1, max_length=100)
    grant: Literal[GRANTS]  # type: ignore[valid-type]  # a runtime tuple: pydantic checks it
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    sites: list[str] | None = Field(default=None, max_length=1000)


class Login(_Model):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    totp: str | None = Field(default=None, max_length=10)


class Enrolment(_Model):
    username: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class Reauthentication(_Model):
    password: str | None = Field(default=None, max_length=1000)
    totp: str | None = Field(default=None, max_length=10)


class TotpCode(_Model):
    code: str = Field(min_length=1, max_length=10)


class Screening(_Model):
    subject_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    site: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]


class Randomisation(_Model):
    strata: dict[str, str] = Field(default_factory=dict)


class Unblinding(_Model):
    reason: str = Field(min_length=1, max_length=2000)
    password: str | None = Field(default=None, max_length=1000, description="re-authentication for the signature")
    totp: str | None = Field(default=None, max_length=10, description="current code of the authenticator app")


class Correction(_Model):
    field: str = Field(min_length=1, max_length=120, description="site, strata or data.NAME (a screening value)")
    value: Any = Field(description="the corrected value (for strata: every factor's level)")
    reason: str = Field(min_length=5, max_length=2000)


class Me(BaseModel):
    username: str
    role: str
    sites: list[str] | None


class UserCreated(BaseModel):
    username: str
    role: str
    enrolment_code: str


class PasswordReset(BaseModel):
    username: str
    enrolment_code: str


class SessionOut(BaseModel):
    token: str
    expires_in_minutes: float
    idle_timeout_minutes: float
    totp_enrolment_required: bool = False


class TotpOut(BaseModel):
    secret: str
    uri: str


class GrantOut(BaseModel):
    id: int
    username: str
    grant: str
    sites: list[str] | None
    proposed_by: str
    proposed_at: str
    status: str
    decided_by: str | None
    decided_at: str | None


class GrantProposed(GrantOut):
    proposer_code: str


class GrantApproved(GrantOut):
    approver_code: str


class Meaning(BaseModel):
    meaning: str


class StudyOut(BaseModel):
    name: str
    method: str
    arms: list[str]
    ratio: list[int]
    strata: dict[str, list[str]]
    eligibility: list[dict[str, Any]]
    list_sha256: str | None = None  # unblinded roles only


class Failure(BaseModel):
    rule: str
    text: str
    reason: str


class ScreeningOut(BaseModel):
    subject_id: str
    site: str
    eligible: bool
    failures: list[Failure]


class Confirmation(BaseModel):
    subject_id: str
    site: str
    randomisation_number: int
    kit_number: int
    stratum: str
    strata: dict[str, str]
    randomised_at: str
    randomised_by: str


class SubjectStatus(BaseModel):
    subject_id: str
    site: str
    eligible: bool
    failures: list[Failure]
    screened_at: str
    randomised: bool
    unblinded: bool
    randomisation_number: int | None = None
    kit_number: int | None = None
    stratum: str | None = None
    strata: dict[str, str] | None = None
    randomised_at: str | None = None
    randomised_by: str | None = None


class PharmacyOut(BaseModel):
    subject_id: str
    site: str
    randomisation_number: int
    kit_number: int
    arm: str
    randomised_at: str


class UnblindOut(BaseModel):
    subject_id: str
    randomisation_number: int
    arm: str | None = Field(description="only in the answer to the signature that unblinded; None on a repeat")
    unblinded_at: str
    unblinded_by: str
    signed_by: str
    meaning: str
    reason: str
    repeat: bool


class CorrectionOut(BaseModel):
    subject_id: str
    field: str
    old: Any
    new: Any
    eligible: bool | None = None
    reason: str


class BlindedReport(BaseModel):
    screened: int
    eligible: int
    randomised: int
    by_stratum: dict[str, int]
    by_site: dict[str, int]
    emergency_unblindings: int


class UnblindedReport(BaseModel):
    randomised: int
    by_stratum_arm: dict[str, dict[str, int]]
    by_arm: dict[str, int]
    completed_blocks: int
    completed_blocks_balanced: bool


class UnblindingEvent(BaseModel):
    subject_id: str
    site: str
    unblinded_by: str
    unblinded_at: str
    reason: str
    signed_by: str | None
    meaning: str | None


class AuditRecord(BaseModel):
    seq: int
    ts: str
    actor: str
    role: str
    action: str
    subject: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditCheck(BaseModel):
    valid: bool
    n_records: int
    head_hash: str
    first_invalid: int | None
    reason: str


class ListCheck(BaseModel):
    list_sha256: str | None = None  # unblinded roles only
    digest_matches: bool
    regenerates: bool
    valid: bool


class ListExport(BaseModel):
    csv: str
    parameters: dict[str, Any]
    list_sha256: str
    commitment_nonce: str


class AdslOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed JSON body: " + "; ".join(str(e.get("ctx", {}).get("error", "")) for e in errors)
    parts = []
    for e in errors:
        location = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{location}: {e.get('msg', 'invalid')}")
    return 422, "invalid request: " + "; ".join(parts)


def create_app(database_url: str = "sqlite:///randomisation.db", *, store: Store | None = None,
               api_docs: bool = False, max_body_bytes: int = LIMITS["body_bytes"]) -> FastAPI:
    """The FastAPI application of the randomisation service on ``database_url``.

    ``api_docs=True`` serves the OpenAPI schema at ``/openapi.json`` (the interactive pages,
    which load JavaScript from a CDN, are never served); ``max_body_bytes`` bounds a request body.

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> app = create_app("sqlite://")
    >>> client = TestClient(app)
    >>> code = app.state.store.add_user("admin", "admin", bootstrap=True)
    >>> client.post("/api/auth/enrol", json={"username": "admin", "code": code, "password": "a long passphrase"})
    <Response [204 No Content]>
    >>> token = client.post("/api/auth/login", json={"username": "admin", "password": "a long passphrase"}).json()
    >>> client.get("/api/me", headers={"Authorization": f"Bearer {token['token']}"}).json()
    {'username': 'admin', 'role': 'admin', 'sites': None}
    """
    db = store if store is not None else Store(database_url)
    app = FastAPI(title="dosefinding randomisation", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json" if api_docs else None)
    app.state.store = db
    pages = [SITE_PAGE, PHARMACY_PAGE, audit_html([], study="", verification="")]
    policy = content_security_policy(pages)
    starlette_stack = app.build_middleware_stack
    # Outside Starlette's own error middleware, so that a 500 carries the headers too.
    # ignore[method-assign] below: wraps Starlette's whole stack
    app.build_middleware_stack = lambda: SecurityHeaders(BodyLimit(starlette_stack(), max_body_bytes), policy)  # type: ignore[method-assign]

    @app.exception_handler(ServiceError)
    def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(InputError)
    def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(exc)
        return JSONResponse({"detail": message}, status_code=status)

    def bearer_token(authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if authorization and scheme.lower() != "bearer":
            raise ServiceError(401, "invalid token: use 'Authorization: Bearer <token>'")
        return token.strip() or None

    def actor(authorization: Annotated[str | None, Header()] = None) -> Actor:
        return db.authenticate(bearer_token(authorization))

    def enrolling_actor(authorization: Annotated[str | None, Header()] = None) -> Actor:
        """The caller, also when it must enrol an authenticator before anything else."""
        return db.authenticate(bearer_token(authorization), enrolling=True)

    def role(*allowed: str, what: str) -> Any:
        def check(who: Annotated[Actor, Depends(actor)]) -> Actor:
            if who.role not in allowed:
                raise ServiceError(403, f"role {who.role!r} may not {what}")
            return who

        return check

    Caller = Annotated[Actor, Depends(actor)]
    Enrolling = Annotated[Actor, Depends(enrolling_actor)]
    Admin = Annotated[Actor, Depends(role("admin", what="administer the study"))]
    Sponsor = Annotated[Actor, Depends(role("sponsor", what="approve grants"))]
    Decider = Annotated[Actor, Depends(role("sponsor", "admin", what="reject grants"))]
    GrantReader = Annotated[Actor, Depends(role("admin", "sponsor", "auditor", what="list grants"))]
    Investigator = Annotated[Actor, Depends(role("investigator", what="screen, randomise or unblind subjects"))]
    Pharmacist = Annotated[Actor, Depends(role("pharmacist", what="see the pharmacy view"))]
    Dmc = Annotated[Actor, Depends(role("dmc", what="see unblinded reports or exports"))]
    Auditor = Annotated[Actor, Depends(role("auditor", what="read the audit trail"))]
    Verifier = Annotated[Actor, Depends(role("auditor", "admin", what="verify the audit trail or the list"))]
    Viewer = Annotated[Actor, Depends(role("investigator", "pharmacist", "dmc", "blinded_statistician", "admin",
                                           what="view subjects"))]
    Reporter = Annotated[Actor, Depends(role("blinded_statistician", "dmc", "admin", "auditor",
                                             what="see blinded reports"))]
    Exporter = Annotated[Actor, Depends(role("blinded_statistician", "dmc", what="export ADSL"))]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def site_page() -> str:
        return SITE_PAGE

    @app.get("/pharmacy", response_class=HTMLResponse, include_in_schema=False)
    def pharmacy_page() -> str:
        return PHARMACY_PAGE

    @app.get("/api/me", response_model=Me)
    def me(who: Enrolling) -> Me:
        return Me(username=who.username, role=who.role, sites=sorted(who.sites) if who.sites is not None else None)

    @app.post("/api/auth/enrol", status_code=204)
    def enrol(body: Enrolment) -> None:
        db.accounts.enrol(body.username, body.code, body.password)

    @app.post("/api/auth/login", response_model=SessionOut)
    def login(body: Login) -> Any:
        return db.accounts.login(body.username, body.password, body.totp)

    @app.post("/api/auth/renew", response_model=SessionOut)
    def renew(who: Caller) -> Any:
        return db.accounts.renew(who)

    @app.post("/api/auth/logout", status_code=204)
    def logout(who: Enrolling) -> None:
        db.accounts.logout(who)

    @app.post("/api/auth/totp", response_model=TotpOut)
    def totp_begin(who: Enrolling, body: Reauthentication | None = None) -> Any:
        return db.accounts.totp_begin(who, *((body.password, body.totp) if body is not None else ()))

    @app.post("/api/auth/totp/confirm", status_code=204)
    def totp_confirm(body: TotpCode, who: Enrolling) -> None:
        db.accounts.totp_confirm(who, body.code)

    @app.get("/api/unblinding/meaning", response_model=Meaning)
    def unblinding_meaning(who: Caller) -> Any:
        return {"meaning": UNBLINDING_MEANING}

    @app.post("/api/admin/grants", response_model=GrantProposed, status_code=201)
    def propose_grant(body: GrantProposal, who: Admin) -> Any:
        return db.accounts.propose(who, body.username, body.grant, full_name=body.full_name, sites=body.sites)

    @app.get("/api/grants", response_model=list[GrantOut])
    def grants(who: GrantReader) -> Any:
        return db.accounts.grants()

    @app.post("/api/grants/{grant_id}/approve", response_model=GrantApproved)
    def approve_grant(grant_id: Annotated[int, Path(ge=1, le=2**62)], who: Sponsor) -> Any:
        return db.accounts.approve(who, grant_id)

    @app.post("/api/grants/{grant_id}/reject", response_model=GrantOut)
    def reject_grant(grant_id: Annotated[int, Path(ge=1, le=2**62)], who: Decider) -> Any:
        return db.accounts.reject(who, grant_id)

    @app.post("/api/admin/study", response_model=StudyOut, status_code=201, response_model_exclude_none=True)
    def setup_study(body: StudySetup, who: Admin) -> Any:
        return db.setup_study(who, body.model_dump())

    @app.post("/api/admin/users", response_model=UserCreated, status_code=201)
    def create_user(body: UserCreate, who: Admin) -> Any:
        code = db.add_user(body.username, body.role, ttl_hours=body.ttl_hours, actor=who, sites=body.sites,
                           full_name=body.full_name)
        return {"username": username_of(body.username), "role": body.role, "enrolment_code": code}

    @app.post("/api/admin/users/{username}/revoke", status_code=204)
    def revoke_user(username: str, who: Admin, body: Revocation | None = None) -> None:
        db.revoke_user(who, username, body.reason if body is not None else None)

    @app.post("/api/admin/users/{username}/revoke-unblinding", status_code=204)
    def revoke_unblinding(username: str, who: Admin) -> None:
        db.accounts.revoke_unblinding(who, username)

    @app.post("/api/admin/users/{username}/unlock", status_code=204)
    def unlock_user(username: str, body: AdminAction, who: Admin) -> None:
        db.accounts.unlock(who, username, body.reason)

    @app.post("/api/admin/users/{username}/reset", response_model=PasswordReset)
    def reset_user(username: str, body: AdminAction, who: Admin) -> Any:
        return {"username": username_of(username), "enrolment_code": db.accounts.reset(who, username, body.reason)}

    @app.get("/api/study", response_model=StudyOut, response_model_exclude_none=True)
    def study(who: Caller) -> Any:
        return db.study_public(who)

    @app.post("/api/subjects/screen", response_model=ScreeningOut, status_code=201)
    def screen(body: Screening, who: Investigator) -> Any:
        return db.screen(who, body.subject_id, body.site, body.data)

    @app.post("/api/subjects/{subject_id}/randomise", response_model=Confirmation, status_code=201)
    def randomise(subject_id: str, body: Randomisation, who: Investigator) -> Any:
        return db.randomise(who, subject_id, body.strata)

    @app.get("/api/subjects/{subject_id}", response_model=SubjectStatus)
    def subject(subject_id: str, who: Viewer) -> Any:
        return db.subject_status(who, subject_id)

    @app.post("/api/subjects/{subject_id}/unblind", response_model=UnblindOut)
    def unblind(subject_id: str, body: Unblinding, who: Investigator) -> Any:
        return db.unblind(who, subject_id, body.reason, password=body.password, totp=body.totp)

    @app.post("/api/subjects/{subject_id}/corrections", response_model=CorrectionOut, status_code=201)
    def correct(subject_id: str, body: Correction, who: Investigator) -> Any:
        return db.correct_subject(who, subject_id, body.field, body.value, body.reason)

    @app.get("/api/pharmacy/subjects/{subject_id}", response_model=PharmacyOut)
    def pharmacy(subject_id: str, who: Pharmacist) -> Any:
        return db.pharmacy_view(who, subject_id)

    @app.get("/api/reports/blinded", response_model=BlindedReport)
    def blinded_report(who: Reporter) -> Any:
        return db.blinded_report(who)

    @app.get("/api/reports/unblinded", response_model=UnblindedReport)
    def unblinded_report(who: Dmc) -> Any:
        return db.unblinded_report(who)

    @app.get("/api/reports/unblinding", response_model=list[UnblindingEvent])
    def unblinding_report(who: Reporter) -> Any:
        return db.unblinding_report(who)

    @app.get("/api/audit", response_model=list[AuditRecord])
    def audit(who: Auditor, after: Annotated[int, Query(ge=0, le=2**62)] = 0,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Any:
        return db.audit_records(who, after=after, limit=limit)

    @app.get("/api/audit/export.csv", response_class=PlainTextResponse)
    def audit_export_csv(who: Auditor) -> PlainTextResponse:
        return PlainTextResponse(audit_csv(db.audit_records(who, limit=None)), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'})

    @app.get("/api/audit/export.html", response_class=HTMLResponse)
    def audit_export_html(who: Auditor) -> str:
        return audit_html(db.audit_records(who, limit=None), study=db.study_public(who)["name"],
                          verification=str(db.verify_audit().summary()))

    @app.get("/api/audit/verify", response_model=AuditCheck)
    def audit_verify(who: Verifier) -> Any:
        check = db.verify_audit()
        return {"valid": check.valid, "n_records": check.n_records, "head_hash": check.head_hash,
                "first_invalid": check.first_invalid, "reason": check.reason}

    @app.get("/api/list/verify", response_model=ListCheck, response_model_exclude_none=True)
    def list_verify(who: Verifier) -> Any:
        return db.verify_list(who)

    @app.get("/api/export/list", response_model=ListExport)
    def list_export(who: Dmc) -> Any:
        return db.export_list(who)

    @app.get("/api/export/adsl", response_model=AdslOut)
    def adsl(who: Exporter) -> Any:
        frame = db.adsl(who, unblinded=who.role == "dmc")
        return {"columns": list(frame.columns), "rows": frame.astype(object).values.tolist()}

    return app
