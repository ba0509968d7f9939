"""Forms of the pages (Flask-WTF: CSRF on every form; GOV.UK widgets).

Forms check shapes (required, lengths, real dates, known choices); the rules of the domain live in
the services, whose problems ``apply_problems`` shows against the same fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectChoice,
    EmailField,
    Field,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp, StopValidation, ValidationError

from panel_app.errors import PanelError
from panel_app.models import (
    ActionStatus,
    AgendaKind,
    AttendanceStatus,
    ClosureReason,
    GapSeverity,
    GapStatus,
    LegalStatus,
    NeedRating,
    NotDoneReason,
    ReferralStatus,
    Role,
)
from panel_app.pathways import Pathway
from panel_app.services import gaps as gap_rules
from panel_app.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from panel_app.services import referrals as referral_rules
from panel_app.web.widgets import (
    CheckboxesInput,
    CheckboxInput,
    DateInput,
    PasswordInput,
    RadioInput,
    Select,
    SubmitInput,
    TextArea,
    TextInput,
)


def choices(members: Iterable[Any], label: str = "label") -> list[tuple[str, str]]:
    """A field's choices from an enum's members: each one's stored value, and the words the enum
    gives it (``label``, or ``choice_label`` where a form offers the value in longer words)."""
    return [(member.value, getattr(member, label)) for member in members]


def _too_long(limit: int) -> Length:
    return Length(max=limit, message=_l("Must be %(max)d characters or fewer"))


class DayMonthYearField(Field):
    """A date typed as day, month and year boxes (the GOV.UK date input), with messages that say
    what is wrong."""

    widget = DateInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        parts = [part.strip() for part in valuelist]
        if not any(parts):
            return
        if len(parts) != 3 or not all(parts):
            raise ValueError(_("%(label)s must include a day, month and year", label=self.label.text))
        try:
            day, month, year = (int(part) for part in parts)
            if not 1000 <= year <= 9999:
                raise ValueError
            self.data = date(year, month, day)
        except (ValueError, OverflowError):
            # OverflowError: a day or month too large for the C int that ``date`` takes (a 20-digit day).
            raise ValueError(_("%(label)s must be a real date", label=self.label.text)) from None

    def _value(self) -> str:
        return self.data.strftime("%d %m %Y") if self.data else ""


class PanelForm(FlaskForm):
    """Every form of ours: refuses a NUL character in any text, on the field that holds it (no
    database stores one, and nobody means to type one)."""

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)

        def walk(fields: Any) -> bool:
            clean = True
            for field in fields:
                if isinstance(field, FormField):
                    clean = walk(field.form) and clean
                elif isinstance(field.data, str) and "\x00" in field.data:
                    field.errors = [*field.errors, _("Remove the NUL character")]
                    clean = False
            return clean

        return walk(self) and valid


class _ChoiceMessage:
    """WTForms' stock "Not a valid choice" says nothing a person can act on; say what to do."""

    def __init__(self, *args: Any, invalid_message: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invalid_message = invalid_message

    def _invalid(self) -> str:
        return str(self.invalid_message or _("Choose one of the options listed"))

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)  # type: ignore[misc]
        except ValueError:
            raise ValueError(self._invalid()) from None

    def pre_validate(self, form: Any) -> None:
        try:
            super().pre_validate(form)  # type: ignore[misc]
        except ValidationError:
            raise ValidationError(self._invalid()) from None


class ChoiceSelect(_ChoiceMessage, SelectField):
    pass


class ChoiceRadio(_ChoiceMessage, RadioField):
    pass


class ChoiceCheckboxes(_ChoiceMessage, SelectMultipleField):
    pass


class WholeNumberField(IntegerField):
    """A whole number, with a message that says so (WTForms' own is "Not a valid integer value").

    At most 9 digits: no whole number we ask for is larger, and a 400-digit one would otherwise reach
    the database (which cannot store it) if a check were ever missed."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist and len(valuelist[0].strip().lstrip("+-")) > 9:
            self.data = None
            raise ValueError(_("Enter a smaller whole number, like 6"))
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_("Enter a whole number, like 6")) from None


class RequiredDate:
    """A date that must be given (the field's own check runs first, for a half-typed date)."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def __call__(self, form: Any, field: Field) -> None:
        if field.data is None and not field.errors:
            raise StopValidation(str(self.message))


def _version(form: FlaskForm) -> int | None:
    raw = form.version.data if hasattr(form, "version") else None
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _field_at(form: FlaskForm, path: str) -> Field | None:
    field: Any = form
    for part in path.split("-"):
        try:
            field = field[part]
        except (KeyError, TypeError):
            return None
    return field


def apply_problems(form: FlaskForm, error: PanelError, names: dict[str, str] | None = None) -> None:
    """Show a service's problems against the form's fields (``names`` maps the service's field names
    to the form's; ``-`` steps into a sub-form); the rest go to the top of the error summary. So do
    the problems of hidden fields (the blocked action a gap comes from): unlinked, rather than
    pointing at an input no one can see."""
    names = names or {}
    unmatched = []
    for name, message in error.fields.items():
        field = _field_at(form, names.get(name, name))
        if field is None or isinstance(field, (FormField, HiddenField)):
            unmatched.append(message)
        else:
            field.errors = [*field.errors, message]
    if not error.fields:
        form.form_errors.append(error.message)
    form.form_errors.extend(unmatched)


# --- Signing in ---------------------------------------------------------------------------------


def _password_length() -> Length:
    return Length(max=MAX_PASSWORD_LENGTH,
                  message=_l("Password must be %(count)d characters or fewer", count=MAX_PASSWORD_LENGTH))


class SignInForm(PanelForm):
    email = EmailField(
        _l("Email address"),
        widget=TextInput(),
        validators=[
            InputRequired(message=_l("Enter your email address")),
            Length(max=254, message=_l("Email address must be 254 characters or fewer")),
        ],
    )
    password = PasswordField(
        _l("Password"),
        widget=PasswordInput(),
        validators=[
            InputRequired(message=_l("Enter your password")),
            _password_length(),
        ],
    )
    submit = SubmitField(_l("Sign in"), widget=SubmitInput())


class ChoosePasswordForm(PanelForm):
    """Following an invitation, reset or first sign-in link. One field, shown or hidden by its own
    button (GOV.UK's pattern: no second box to type it again)."""

    password = PasswordField(
        _l("Password"),
        widget=PasswordInput(),
        description=_l("At least %(count)d characters. Three or more random words together are strong and easy "
                       "to remember. Not a common password, your email address or your name.",
                       count=MIN_PASSWORD_LENGTH),
        validators=[InputRequired(message=_l("Enter a password")), _password_length()],
    )
    submit = SubmitField(_l("Save password and sign in"), widget=SubmitInput())


# --- People ------------------------------------------------------------------------------------


class PeopleFilterForm(PanelForm):
    """The people list's search and filters (a GET form: nothing changes, so no CSRF token). The
    agency and partnership choices are set by the page."""

    class Meta:
        csrf = False

    q = StringField(_l("Search by name or email"), widget=TextInput(), validators=[Optional(), _too_long(100)])
    role = ChoiceSelect(_l("Role"), choices=[], widget=Select(), validators=[Optional()])
    agency = ChoiceSelect(_l("Agency"), coerce=int, choices=[], widget=Select(), validators=[Optional()])
    partnership = ChoiceSelect(_l("Partnership"), coerce=int, choices=[], widget=Select(), validators=[Optional()])
    state = ChoiceSelect(_l("Account"), choices=[], widget=Select(), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = [("", _("Any role"))] + choices(Role)
        self.state.choices = [("", _("Any state"))] + [
            ("active", _("Active")), ("invited", _("Invited")), ("deactivated", _("Deactivated"))]


class InviteForm(PanelForm):
    """Inviting someone: the role's choices are those the inviter may invite into, the agency,
    partnership and region choices those they may name (set by the page)."""

    email = EmailField(_l("Email address"), widget=TextInput(), description=_l("Their work email address"),
                       validators=[InputRequired(message=_l("Enter their email address")), _too_long(254)])
    name = StringField(_l("Full name"), widget=TextInput(),
                       validators=[InputRequired(message=_l("Enter their name")), _too_long(120)])
    role = ChoiceRadio(_l("Role"), choices=[], widget=RadioInput(),
                       validators=[InputRequired(message=_l("Choose their role"))])
    agency_id = ChoiceSelect(_l("Agency"), coerce=int, choices=[], widget=Select(),
                             description=_l("Agency staff only"), validators=[Optional()])
    partnership_ids = ChoiceCheckboxes(_l("Partnerships"), coerce=int, choices=[], widget=CheckboxesInput(),
                                       description=_l("Brokers: the partnerships they broker. Agency staff: "
                                                      "partnerships their agency sits on (optional)."))
    region_id = ChoiceSelect(_l("Region"), coerce=int, choices=[], widget=Select(),
                             description=_l("Strategic leads only"), validators=[Optional()])
    submit = SubmitField(_l("Send invitation"), widget=SubmitInput())


class AgencyForm(PanelForm):
    """Adding or changing an agency; the type's choices are the modules of ``agencies/``."""

    name = StringField(_l("Name"), widget=TextInput(),
                       validators=[InputRequired(message=_l("Enter the agency's name")), _too_long(160)])
    type = ChoiceSelect(_l("Type of agency"), choices=[], widget=Select(),
                        validators=[InputRequired(message=_l("Choose the type of agency"))],
                        invalid_message=_l("Choose one of the types of agency listed"))
    area = StringField(_l("Area (optional)"), widget=TextInput(), description=_l("Where it works, like Flintshire"),
                       validators=[Optional(), _too_long(120)])
    contact_email = EmailField(_l("Team email address (optional)"), widget=TextInput(),
                               description=_l("Where invitations, meeting packs and reminders go: a team inbox"),
                               validators=[Optional(), _too_long(254)])
    lead_contact_email = EmailField(_l("Lead contact email address (optional)"), widget=TextInput(),
                                    description=_l("The manager told when one of the agency's actions stays overdue"),
                                    validators=[Optional(), _too_long(254)])
    active = BooleanField(_l("The agency is active"), widget=CheckboxInput(), default=True,
                          description=_l("Untick when it no longer works with the partnerships; its records stay"))
    submit = SubmitField(_l("Save agency"), widget=SubmitInput())


class PartnershipForm(PanelForm):
    """Adding or changing a partnership; the agency and broker choices are set by the page."""

    name = StringField(_l("Name"), widget=TextInput(),
                       validators=[InputRequired(message=_l("Enter the partnership's name")), _too_long(160)])
    area = StringField(_l("Area"), widget=TextInput(), description=_l("The area the panel covers, like Flintshire"),
                       validators=[InputRequired(message=_l("Enter the area the partnership covers")),
                                   _too_long(160)])
    region = StringField(_l("Region"), widget=TextInput(),
                         description=_l("The region its strategic leads oversee, like Wales. A new name adds a "
                                        "region."),
                         validators=[InputRequired(message=_l("Enter the region it belongs to")), _too_long(120)])
    agency_ids = ChoiceCheckboxes(_l("Member agencies"), coerce=int, choices=[], widget=CheckboxesInput(),
                                  invalid_message=_l("Choose only agencies listed"))
    broker_ids = ChoiceCheckboxes(_l("Brokers"), coerce=int, choices=[], widget=CheckboxesInput(),
                                  description=_l("They triage the partnership's referrals and run its meetings"),
                                  invalid_message=_l("Choose only brokers listed"))
    without_broker = BooleanField(_l("I understand the partnership will have no broker for now"),
                                  widget=CheckboxInput())
    stages = TextAreaField(_l("Journey stages (optional)"), widget=TextArea(),
                           description=_l("One stage a line, in order. Leave empty for the five Kalix stages."),
                           validators=[Optional(), _too_long(3000)])
    submit = SubmitField(_l("Save partnership"), widget=SubmitInput())


class PersonStepForm(PanelForm):
    """A button that changes someone's account (deactivate, resend an invitation): only the CSRF
    token; the person is in the URL."""


class ForgottenPasswordForm(PanelForm):
    email = EmailField(
        _l("Email address"),
        widget=TextInput(),
        description=_l("The address you sign in with"),
        validators=[
            InputRequired(message=_l("Enter your email address")),
            Length(max=254, message=_l("Email address must be 254 characters or fewer")),
        ],
    )
    submit = SubmitField(_l("Send me a reset link"), widget=SubmitInput())


# --- Referrals ----------------------------------------------------------------------------------


class NeedForm(Form):
    """One pathway's rating and note (a sub-form: the parent form carries the CSRF token)."""

    rating = ChoiceRadio(_l("Rating"), choices=[], default=NeedRating.NONE.value, widget=RadioInput(),
                        validators=[InputRequired(message=_l("Choose a rating"))])
    note = TextAreaField(_l("Note"), widget=TextArea(), validators=[Optional(), _too_long(referral_rules.NOTE_MAX)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rating.choices = choices(NeedRating, "choice_label")


class _ConsentFields:
    """The young person's information-sharing consent, asked the same way when referring and when
    recording it afresh."""

    consent_given = ChoiceRadio(_l("Has the young person agreed to share their information with the panel?"),
                                choices=[], widget=RadioInput(),
                                validators=[InputRequired(message=_l("Say whether the young person gave consent"))])
    consent_date = DayMonthYearField(_l("Date consent was given"))
    consent_scope = ChoiceRadio(_l("Who did they agree to share with?"), choices=[], default="all",
                                widget=RadioInput())
    consent_agencies = ChoiceCheckboxes(_l("Agencies they agreed to share with"), coerce=int, choices=[],
                                        widget=CheckboxesInput(), validate_choice=True)
    consent_review_on = DayMonthYearField(_l("Review consent by (optional)"),
                                          description=_l("If you leave this empty, a year after consent was given"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consent_given.choices = [("yes", _("Yes")), ("no", _("No"))]
        self.consent_scope.choices = [("all", _("Every agency on the panel")),
                                      ("some", _("Only the agencies chosen below"))]

    def consent_input(self) -> referral_rules.ConsentInput:
        return referral_rules.ConsentInput(
            given=self.consent_given.data == "yes",
            given_on=self.consent_date.data,
            all_member_agencies=self.consent_scope.data != "some",
            agency_ids=list(self.consent_agencies.data or []),
            review_on=self.consent_review_on.data,
            scope_note=self.scope_note.data if "scope_note" in self else None,  # type: ignore[operator]
        )


class _NeedsMixin:
    """A sub-form per pathway, named ``need_<key>``."""

    def needs(self) -> dict[Pathway, FormField]:
        return {pathway: self[f"need_{pathway.value}"] for pathway in Pathway}  # type: ignore[index]

    def need_inputs(self) -> dict[Pathway, referral_rules.NeedInput]:
        return {
            pathway: referral_rules.NeedInput(NeedRating(sub.rating.data or NeedRating.NONE.value), sub.note.data)
            for pathway, sub in self.needs().items()
        }


def _with_need_fields(cls: type) -> type:
    for pathway in Pathway:
        setattr(cls, f"need_{pathway.value}", FormField(NeedForm, label=pathway.label))
    return cls


@_with_need_fields
class ReferralForm(_NeedsMixin, _ConsentFields, PanelForm):
    partnership_id = ChoiceSelect(_l("Partnership"), coerce=int, widget=Select(),
                                 validate_choice=True, choices=[])
    referring_agency_id = ChoiceSelect(_l("Referring agency"), coerce=int, widget=Select(), choices=[],
                                      description=_l("The agency whose case manager is making the referral"))
    given_name = StringField(_l("First name"), widget=TextInput(), validators=[
        InputRequired(message=_l("Enter the young person's first name")), _too_long(referral_rules.NAME_MAX)])
    family_name = StringField(_l("Last name"), widget=TextInput(), validators=[
        InputRequired(message=_l("Enter the young person's last name")), _too_long(referral_rules.NAME_MAX)])
    date_of_birth = DayMonthYearField(_l("Date of birth"), description=_l("For example, 27 3 2009"),
                                      validators=[RequiredDate(_l("Enter the young person's date of birth"))])
    pronouns = StringField(_l("Pronouns (optional)"), widget=TextInput(),
                           validators=[Optional(), _too_long(referral_rules.SHORT_MAX)])
    preferred_language = StringField(_l("Preferred language (optional)"), widget=TextInput(),
                                     description=_l("For example, Welsh or English"),
                                     validators=[Optional(), _too_long(referral_rules.SHORT_MAX)])
    yot_reference = StringField(_l("YOT reference (optional)"), widget=TextInput(),
                                validators=[Optional(), _too_long(referral_rules.SHORT_MAX)])
    phone = StringField(_l("Phone (optional)"), widget=TextInput(),
                        validators=[Optional(), _too_long(referral_rules.SHORT_MAX)])
    email = StringField(_l("Email (optional)"), widget=TextInput(), validators=[Optional(), _too_long(254)])
    address = TextAreaField(_l("Address (optional)"), widget=TextArea(),
                            validators=[Optional(), _too_long(referral_rules.ADDRESS_MAX)])
    reason = TextAreaField(_l("Why are you referring this young person?"), widget=TextArea(),
                           description=_l("What the panel needs to know: the situation, the risks, what has been tried"),
                           validators=[InputRequired(message=_l("Enter why the young person is being referred")),
                                       _too_long(referral_rules.REASON_MAX)])
    legal_status = ChoiceRadio(_l("Legal status"), choices=[], widget=RadioInput(),
                              validators=[InputRequired(message=_l("Choose the young person's legal status"))])
    sentenced_on = DayMonthYearField(_l("Sentence date (optional)"))
    expected_release_on = DayMonthYearField(_l("Expected release date"),
                                            description=_l("Needed for a young person in custody"))
    order_ends_on = DayMonthYearField(_l("Order end date (optional)"))
    after_recall = BooleanField(_l("This referral follows a recall to custody"), widget=CheckboxInput())
    submit = SubmitField(_l("Submit referral"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.legal_status.choices = choices(LegalStatus)

    def new_referral(self, referring_agency_id: int | None) -> referral_rules.NewReferral:
        return referral_rules.NewReferral(
            partnership_id=self.partnership_id.data,
            young_person=referral_rules.YoungPersonDetails(
                given_name=self.given_name.data or "",
                family_name=self.family_name.data or "",
                date_of_birth=self.date_of_birth.data,
                pronouns=self.pronouns.data,
                preferred_language=self.preferred_language.data,
                yot_reference=self.yot_reference.data,
                phone=self.phone.data,
                email=self.email.data,
                address=self.address.data,
            ),
            reason=self.reason.data or "",
            consent=self.consent_input(),
            legal_status=LegalStatus(self.legal_status.data),
            sentenced_on=self.sentenced_on.data,
            expected_release_on=self.expected_release_on.data,
            order_ends_on=self.order_ends_on.data,
            after_recall=bool(self.after_recall.data),
            needs=self.need_inputs(),
            referring_agency_id=referring_agency_id,
        )


# Where the service's field names differ from this form's.
REFERRAL_FIELD_NAMES = {
    **{f"young_person.{name}": name for name in ("given_name", "family_name", "date_of_birth", "pronouns",
                                                 "preferred_language", "yot_reference", "phone", "email", "address")},
    "consent.date": "consent_date",
    "consent.agency_ids": "consent_agencies",
    "consent.review_on": "consent_review_on",
    "consent.scope_note": "consent_scope",
    **{f"needs.{p.value}.note": f"need_{p.value}-note" for p in Pathway},
}


class ConfirmForm(PanelForm):
    """A button that changes a record (accept a referral): only the CSRF token and the version read."""

    version = HiddenField(validators=[
        InputRequired(message=_l("This form did not say which version of the record it changes. Reload the page "
                                 "and try again.")),
        Regexp(r"^\d{1,9}$", message=_l("This form did not say which version of the record it changes. Reload the "
                                        "page and try again.")),
    ])

    def version_read(self) -> int | None:
        return _version(self)


class AcceptForm(ConfirmForm):
    """Accepting a referral whose young person may already be known to the partnership: the broker
    says whether it is the same young person (choices set by the page: ``new`` or a record's id)."""

    same_as = ChoiceRadio(_l("Is this the same young person?"), choices=[], widget=RadioInput(),
                          validators=[InputRequired(message=_l("Say whether this is the same young person"))],
                          invalid_message=_l("Choose one of the young people listed, or a new young person"))
    submit = SubmitField(_l("Accept referral"), widget=SubmitInput())


class DeclineForm(ConfirmForm):
    reason = TextAreaField(_l("Why are you declining this referral?"), widget=TextArea(),
                           description=_l("The referring agency will see this"),
                           validators=[InputRequired(message=_l("Enter why the referral is declined")),
                                       _too_long(referral_rules.NOTE_MAX)])
    submit = SubmitField(_l("Decline referral"), widget=SubmitInput())


class QuestionForm(ConfirmForm):
    question = TextAreaField(_l("What do you need to know?"), widget=TextArea(),
                             description=_l("The referring agency will see this and can answer on the referral's page"),
                             validators=[InputRequired(message=_l("Enter what you need to know")),
                                         _too_long(referral_rules.NOTE_MAX)])
    submit = SubmitField(_l("Ask for more information"), widget=SubmitInput())


class AnswerForm(ConfirmForm):
    answer = TextAreaField(_l("Your answer"), widget=TextArea(),
                           validators=[InputRequired(message=_l("Enter the information the broker asked for")),
                                       _too_long(referral_rules.REASON_MAX)])
    submit = SubmitField(_l("Send answer"), widget=SubmitInput())


class ShareForm(ConfirmForm):
    agency_id = ChoiceRadio(_l("Which agency should see this referral?"), coerce=int, choices=[],
                           widget=RadioInput(), validators=[InputRequired(message=_l("Choose an agency"))])
    pathways = ChoiceCheckboxes(_l("Which pathways will they work on? (optional)"), choices=[],
                                   widget=CheckboxesInput(),
                                   description=_l("If you choose none, the agency's usual pathways. Health and "
                                                  "substance-misuse notes are shown only to agencies working on "
                                                  "those pathways."))
    submit = SubmitField(_l("Share referral"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pathways.choices = choices(Pathway)


class StageForm(ConfirmForm):
    stage = ChoiceRadio(_l("Which stage is the young person at?"), coerce=int, choices=[], widget=RadioInput(),
                       validators=[InputRequired(message=_l("Choose a stage"))])
    submit = SubmitField(_l("Change stage"), widget=SubmitInput())


@_with_need_fields
class NeedsForm(_NeedsMixin, ConfirmForm):
    submit = SubmitField(_l("Save ratings"), widget=SubmitInput())


class CloseForm(ConfirmForm):
    reason = ChoiceRadio(_l("How did the referral end?"), choices=[], widget=RadioInput(),
                        validators=[InputRequired(message=_l("Choose how the referral ended"))])
    note = TextAreaField(_l("Anything the partnership should know (optional)"), widget=TextArea(),
                         validators=[Optional(), _too_long(referral_rules.NOTE_MAX)])
    submit = SubmitField(_l("Close referral"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reason.choices = choices(ClosureReason, "choice_label")


class ConsentForm(_ConsentFields, ConfirmForm):
    scope_note = TextAreaField(_l("Anything the young person asked for about sharing (optional)"), widget=TextArea(),
                               validators=[Optional(), _too_long(referral_rules.NOTE_MAX)])
    submit = SubmitField(_l("Record consent"), widget=SubmitInput())


class WithdrawConsentForm(ConfirmForm):
    withdrawn_on = DayMonthYearField(_l("When did the young person withdraw consent?"),
                                     description=_l("If you leave this empty, today"))
    note = TextAreaField(_l("Note (optional)"), widget=TextArea(),
                         validators=[Optional(), _too_long(referral_rules.NOTE_MAX)])
    submit = SubmitField(_l("Record withdrawal"), widget=SubmitInput())


class ReferralFilterForm(PanelForm):
    """The list's search and filters (a GET form: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search by name or YOT reference"), widget=TextInput(), validators=[Optional(), _too_long(100)])
    partnership = ChoiceSelect(_l("Partnership"), coerce=int, choices=[], widget=Select(), validators=[Optional()])
    status = ChoiceSelect(_l("Status"), choices=[], widget=Select(), validators=[Optional()])
    stage = ChoiceSelect(_l("Stage"), coerce=int, choices=[], widget=Select(), validators=[Optional()])
    pathway = ChoiceSelect(_l("Pathway need"), choices=[], widget=Select(), validators=[Optional()])
    rating = ChoiceSelect(_l("Rating"), choices=[], widget=Select(), validators=[Optional()])
    release_within = ChoiceSelect(_l("Release within"), coerce=int, choices=[], widget=Select(),
                                 validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = [("", _("Any status"))] + choices(ReferralStatus)
        self.pathway.choices = [("", _("Any pathway"))] + choices(Pathway)
        self.rating.choices = [("", _("Red or amber"))] + choices(NeedRating)
        self.release_within.choices = [(0, _("Any time"))] + [
            (weeks, _("%(weeks)d weeks", weeks=weeks)) for weeks in (2, 4, 6, 8, 12, 26)]


# --- Meetings -----------------------------------------------------------------------------------

_TIME = r"^([01]?\d|2[0-3])[:.]([0-5]\d)$"


def repeat_choices() -> list[tuple[str, str]]:
    return [
        ("once", _("Once")),
        ("weekly", _("Every week")),
        ("fortnightly", _("Every two weeks")),
        ("monthly_weekday", _("Every month, on the same weekday (for example, the first Tuesday)")),
        ("monthly_date", _("Every month, on the same date")),
    ]


class MeetingForm(PanelForm):
    partnership_id = ChoiceSelect(_l("Partnership"), coerce=int, choices=[], widget=Select())
    day = DayMonthYearField(_l("Date"), description=_l("For example, 2 12 2026"),
                            validators=[RequiredDate(_l("Enter the date of the meeting"))])
    starts = StringField(_l("Starts at"), widget=TextInput(), description=_l("For example, 10:00"),
                         validators=[InputRequired(message=_l("Enter the time the meeting starts")),
                                     Regexp(_TIME, message=_l("Enter a time like 10:00 or 14:30"))])
    ends = StringField(_l("Ends at"), widget=TextInput(), description=_l("For example, 12:00"),
                       validators=[InputRequired(message=_l("Enter the time the meeting ends")),
                                   Regexp(_TIME, message=_l("Enter a time like 10:00 or 14:30"))])
    location = StringField(_l("Place (optional if there is an online link)"), widget=TextInput(),
                           validators=[Optional(), _too_long(200)])
    online_link = StringField(_l("Online meeting link (optional)"), widget=TextInput(),
                              description=_l("For example, a Teams or Zoom link starting https://"),
                              validators=[Optional(), _too_long(500)])
    invited = ChoiceCheckboxes(_l("Invite these agencies"), coerce=int, choices=[], widget=CheckboxesInput(),
                               description=_l("Every agency on the panel is invited unless you untick it"))
    repeat = ChoiceRadio(_l("How often?"), choices=[], default="once", widget=RadioInput())
    occurrences = WholeNumberField(_l("How many meetings? (for a series)"), default=6, widget=TextInput(),
                               validators=[Optional()])
    version = HiddenField()
    submit = SubmitField(_l("Schedule meeting"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.repeat.choices = repeat_choices()

    def validate_occurrences(self, field: Field) -> None:
        if self.repeat.data not in (None, "once") and not (field.data and 2 <= field.data <= 24):
            raise ValidationError(_("Enter a number of meetings from 2 to 24"))


class CancelMeetingForm(ConfirmForm):
    reason = TextAreaField(_l("Why is it cancelled? (optional)"), widget=TextArea(),
                           description=_l("The invited agencies will see this"),
                           validators=[Optional(), _too_long(2000)])
    submit = SubmitField(_l("Cancel meeting"), widget=SubmitInput())


class AgendaAddForm(PanelForm):
    referral_id = ChoiceSelect(_l("Referral"), coerce=int, choices=[], widget=Select(),
                               validators=[InputRequired(message=_l("Choose a referral"))])
    kind = ChoiceRadio(_l("Why is it on the agenda?"), choices=[], default="review", widget=RadioInput())
    minutes_allotted = WholeNumberField(_l("Minutes (optional)"), widget=TextInput(),
                                        validators=[Optional(), NumberRange(1, 240, _l("Give between 1 and 240 minutes"))])
    submit = SubmitField(_l("Add to agenda"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = choices(AgendaKind)


class AgendaItemForm(PanelForm):
    """One agenda row's buttons: move up or down, change its time box, remove it."""

    action = ChoiceSelect(choices=[SelectChoice(value) for value in ("up", "down", "minutes", "remove")],
                          validators=[InputRequired()])
    minutes_allotted = WholeNumberField(_l("Minutes"), widget=TextInput(),
                                        validators=[Optional(), NumberRange(1, 240, _l("Give between 1 and 240 minutes"))])


class RequestUpdatesForm(PanelForm):
    due_on = DayMonthYearField(_l("Send updates by"), description=_l("For example, the working day before the panel"),
                               validators=[RequiredDate(_l("Enter the date updates are needed by"))])
    submit = SubmitField(_l("Ask for updates"), widget=SubmitInput())


class UpdateForm(PanelForm):
    # Not required: a form sent without it (a page loaded before this field existed) sends a general
    # update, as every update was before.
    about = ChoiceRadio(_l("What is your update about?"), choices=[], default="general", widget=RadioInput(),
                        description=_l("An update about health or substance misuse reaches only the broker, the "
                                       "referring agency and the agencies working on that pathway for this young "
                                       "person. Anything else reaches every agency involved in the case."))
    update = TextAreaField(_l("Your agency's update"), widget=TextArea(),
                           description=_l("What has happened since the last panel, and what your agency is doing"),
                           validators=[InputRequired(message=_l("Enter your update")), _too_long(20_000)])
    submit = SubmitField(_l("Send update"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.about.choices = [("general", _("General: the whole case"))] + choices(Pathway)

    def pathway(self) -> Pathway | None:
        return None if self.about.data in (None, "", "general") else Pathway(self.about.data)


class ViewsForm(PanelForm):
    young_person_views = TextAreaField(_l("The young person's views"), widget=TextArea(),
                                       description=_l("In their own words where you can: what they want, what worries "
                                                      "them, what they think of the plan"),
                                       validators=[Optional(), _too_long(20_000)])
    version = HiddenField()
    submit = SubmitField(_l("Save views"), widget=SubmitInput())


class NotesForm(PanelForm):
    """A case's notes in meeting mode: the general discussion, the decisions, and one note per pathway
    (``note_<key>``), since a health note reaches fewer agencies than the general one."""

    notes = TextAreaField(_l("General discussion"), widget=TextArea(), validators=[Optional(), _too_long(20_000)])
    decisions = TextAreaField(_l("Decisions"), widget=TextArea(), validators=[Optional(), _too_long(20_000)])
    version = HiddenField(validators=[InputRequired(), Regexp(r"^\d{1,9}$")])
    submit = SubmitField(_l("Save notes"), widget=SubmitInput())

    def pathway_fields(self) -> dict[Pathway, Field]:
        return {pathway: self[f"note_{pathway.value}"] for pathway in Pathway}  # type: ignore[index]

    def pathway_notes(self) -> dict[Pathway, str | None]:
        """The pathways' notes that were sent (a field not in the request leaves its note as it was)."""
        return {pathway: field.data for pathway, field in self.pathway_fields().items() if field.raw_data}


for _pathway in Pathway:
    # Lazy, so the label is translated when the page is drawn, not once at import.
    setattr(NotesForm, f"note_{_pathway.value}", TextAreaField(
        LazyString(lambda p=_pathway: _("About %(pathway)s only", pathway=p.label)), widget=TextArea(),
        validators=[Optional(), _too_long(20_000)]))


class MinutesForm(ConfirmForm):
    minutes_notes = TextAreaField(_l("General notes"), widget=TextArea(),
                                  description=_l("Anything not about one young person: announcements, service news, "
                                                 "the date of the next panel"),
                                  validators=[Optional(), _too_long(20_000)])
    save = SubmitField(_l("Save draft"), widget=SubmitInput())
    approve = SubmitField(_l("Approve and send to each agency"), widget=SubmitInput())


def attendance_form(agencies: list[Any], current: dict[int, Any]) -> PanelForm:
    """A form with a status and the names of those present for each invited agency."""

    class AttendanceForm(PanelForm):
        submit = SubmitField(_l("Save attendance"), widget=SubmitInput())

    for agency in agencies:
        setattr(AttendanceForm, f"status_{agency.id}", ChoiceSelect(agency.name, choices=[], widget=Select()))
        setattr(AttendanceForm, f"attendees_{agency.id}", StringField(
            _l("Who attended for %(agency)s", agency=agency.name), widget=TextInput(),
            validators=[Optional(), _too_long(500)]))
    form = AttendanceForm()
    for agency in agencies:
        form[f"status_{agency.id}"].choices = [("", _("Not recorded"))] + choices(AttendanceStatus)
        row = current.get(agency.id)
        if row is not None and not form.is_submitted():
            form[f"status_{agency.id}"].data = row.status.value
            form[f"attendees_{agency.id}"].data = row.attendees
    return form


class CalendarForm(PanelForm):
    submit = SubmitField(_l("Create a new calendar link"), widget=SubmitInput())


class SignOutElsewhereForm(PanelForm):
    submit = SubmitField(_l("Sign out everywhere else"), widget=SubmitInput())


class RevokeTokenForm(PanelForm):
    """One per token on the account page: only the CSRF token; the token's id is in the URL."""


class ChangePasswordForm(PanelForm):
    current_password = PasswordField(
        _l("Current password"), widget=PasswordInput(),
        validators=[InputRequired(_l("Enter your current password")), _password_length()],
    )
    new_password = PasswordField(
        _l("New password"), widget=PasswordInput(),
        description=_l("At least %(count)d characters. Not a common password, your email address or your name.",
                       count=MIN_PASSWORD_LENGTH),
        validators=[InputRequired(_l("Enter a new password")), _password_length()],
    )
    submit = SubmitField(_l("Change password"), widget=SubmitInput())


# --- Actions and plans --------------------------------------------------------------------------


class ActionForm(PanelForm):
    """The broker records an action (from the referral page, or in meeting mode)."""

    pathway = ChoiceSelect(_l("Pathway"), choices=[], widget=Select(),
                           validators=[InputRequired(message=_l("Choose the pathway"))])
    description = TextAreaField(_l("What will the agency do?"), widget=TextArea(),
                                description=_l("One promise, in words the young person would understand"),
                                validators=[InputRequired(message=_l("Say what the agency will do")),
                                            _too_long(2_000)])
    agency_id = ChoiceSelect(_l("Which agency?"), coerce=int, choices=[], widget=Select(),
                             validators=[InputRequired(message=_l("Choose the agency"))])
    owner_user_id = ChoiceSelect(_l("Named worker (optional)"), coerce=int, choices=[], widget=Select(),
                                 validators=[Optional()])
    due_on = DayMonthYearField(_l("Due by"), validators=[RequiredDate(_l("Enter the date it is due by"))])
    submit = SubmitField(_l("Record action"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pathway.choices = choices(Pathway)


class ActionUpdateForm(PanelForm):
    """One step: a status, a note, and (optionally) a new due date or the outcome."""

    status = ChoiceSelect(_l("Status"), choices=[], widget=Select(),
                          validators=[InputRequired(message=_l("Choose a status"))])
    note = TextAreaField(_l("Note"), widget=TextArea(), validators=[Optional(), _too_long(4_000)])
    due_on = DayMonthYearField(_l("New due date (optional)"))
    outcome = TextAreaField(_l("Outcome (when done)"), widget=TextArea(), validators=[Optional(), _too_long(4_000)])
    version = HiddenField(validators=[
        InputRequired(message=_l("This form did not say which version of the action it changes. Reload the page "
                                 "and try again.")),
        Regexp(r"^\d{1,9}$", message=_l("Reload the page and try again."))])
    submit = SubmitField(_l("Update"), widget=SubmitInput())

    def __init__(self, *args: Any, include_cancelled: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = choices(status for status in ActionStatus
                                      if include_cancelled or status is not ActionStatus.CANCELLED)


class NotDoneForm(PanelForm):
    reason = ChoiceRadio(_l("Why was it not done?"), choices=[], widget=RadioInput(),
                         validators=[InputRequired(message=_l("Choose why it was not done"))])
    note = TextAreaField(_l("Note (optional)"), widget=TextArea(), validators=[Optional(), _too_long(4_000)])
    version = HiddenField(validators=[InputRequired(), Regexp(r"^\d{1,9}$")])
    submit = SubmitField(_l("Record reason"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reason.choices = choices(NotDoneReason, "choice_label")


class ActionFilterForm(PanelForm):
    class Meta:
        csrf = False

    pathway = ChoiceSelect(_l("Pathway"), choices=[], widget=Select(), validators=[Optional()])
    partnership = ChoiceSelect(_l("Partnership"), coerce=int, choices=[], widget=Select(), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pathway.choices = [("", _("Every pathway"))] + choices(Pathway)


class MilestoneForm(PanelForm):
    description = StringField(_l("Milestone"), widget=TextInput(),
                              description=_l("For example, settled in supported lodgings"),
                              validators=[InputRequired(message=_l("Describe the milestone")), _too_long(500)])
    pathway = ChoiceSelect(_l("Pathway (optional)"), choices=[], widget=Select(), validators=[Optional()])
    target_on = DayMonthYearField(_l("Target date (optional)"))
    submit = SubmitField(_l("Add milestone"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pathway.choices = [("", _("No particular pathway"))] + choices(Pathway)


class PlanSharedForm(PanelForm):
    shared_on = DayMonthYearField(_l("When was it shared?"), description=_l("If you leave this empty, today"))
    shared_how = StringField(_l("How (optional)"), widget=TextInput(),
                             description=_l("For example, gone through with them at a visit; a copy given"),
                             validators=[Optional(), _too_long(200)])
    submit = SubmitField(_l("Record that it was shared"), widget=SubmitInput())


# --- Service gaps -------------------------------------------------------------------------------


class GapForm(PanelForm):
    partnership_id = ChoiceSelect(_l("Partnership"), coerce=int, choices=[], widget=Select())
    pathway = ChoiceSelect(_l("Pathway"), choices=[], widget=Select(),
                           validators=[InputRequired(message=_l("Choose the pathway"))])
    title = StringField(_l("Short title"), widget=TextInput(),
                        description=_l("For example, no supported housing for 16 and 17 year olds in Conwy"),
                        validators=[InputRequired(message=_l("Give the gap a short title")), _too_long(200)])
    description = TextAreaField(_l("What is missing, full or out of reach?"), widget=TextArea(),
                                description=_l("What the young people need, what there is, what happens to them "
                                               "meanwhile. Do not name anyone here: the evidence is linked below."),
                                validators=[InputRequired(message=_l("Describe the gap")), _too_long(10_000)])
    severity = ChoiceRadio(_l("How severe is it?"), choices=[], widget=RadioInput(),
                           validators=[InputRequired(message=_l("Choose how severe it is"))])
    referral_ids = ChoiceCheckboxes(_l("Young people affected (the evidence)"), coerce=int, choices=[],
                                    widget=CheckboxesInput())
    action_id = HiddenField()
    meeting_id = HiddenField()
    submit = SubmitField(_l("Log the gap"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pathway.choices = choices(Pathway)
        self.severity.choices = choices(GapSeverity)

    @staticmethod
    def _id(field: Field) -> int | None:
        raw = field.data
        return int(raw) if isinstance(raw, str) and raw.isdigit() and 0 < int(raw) < 2**31 else None


class EscalateForm(ConfirmForm):
    note = TextAreaField(_l("What are you asking the strategic lead for?"), widget=TextArea(),
                         validators=[InputRequired(message=_l("Say what you are asking for")), _too_long(10_000)])
    submit = SubmitField(_l("Escalate"), widget=SubmitInput())


class RespondForm(ConfirmForm):
    response = TextAreaField(_l("Your response"), widget=TextArea(),
                             validators=[InputRequired(message=_l("Write your response")), _too_long(10_000)])
    status = ChoiceRadio(_l("Where does it stand now?"), choices=[], widget=RadioInput(),
                         validators=[InputRequired(message=_l("Choose where it stands"))])
    owner = StringField(_l("Owner"), widget=TextInput(), description=_l("Who will make it happen"),
                        validators=[Optional(), _too_long(200)])
    target_on = DayMonthYearField(_l("Target date"))
    submit = SubmitField(_l("Send response"), widget=SubmitInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = choices(gap_rules.RESPONSE_STATUSES, "choice_label")


class ReopenForm(ConfirmForm):
    note = TextAreaField(_l("Why is it reopened?"), widget=TextArea(),
                         validators=[InputRequired(message=_l("Say why it is reopened")), _too_long(10_000)])
    submit = SubmitField(_l("Reopen"), widget=SubmitInput())


class EvidenceForm(PanelForm):
    referral_id = ChoiceSelect(_l("Young person affected"), coerce=int, choices=[], widget=Select(),
                               validators=[InputRequired(message=_l("Choose a referral"))])
    waiting_since = DayMonthYearField(_l("Waiting since (optional)"),
                                      description=_l("If you leave this empty, the date they were referred"))
    submit = SubmitField(_l("Add evidence"), widget=SubmitInput())


class GapFilterForm(PanelForm):
    class Meta:
        csrf = False

    partnership = ChoiceSelect(_l("Partnership"), coerce=int, choices=[], widget=Select(), validators=[Optional()])
    pathway = ChoiceSelect(_l("Pathway"), choices=[], widget=Select(), validators=[Optional()])
    status = ChoiceSelect(_l("Status"), choices=[], widget=Select(), validators=[Optional()])
    severity = ChoiceSelect(_l("Severity"), choices=[], widget=Select(), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pathway.choices = [("", _("Every pathway"))] + choices(Pathway)
        self.status.choices = [("", _("Any status"))] + choices(GapStatus)
        self.severity.choices = [("", _("Any severity"))] + choices(GapSeverity)
