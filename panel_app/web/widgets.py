"""GOV.UK Frontend WTForms widgets, with the English defaults they leave untranslated.

govuk-frontend-wtf sets a field's ``errorMessage`` after merging the template's parameters, so the
visually hidden "Error:" prefix that screen readers announce cannot be translated from the
template; and its date input hard-codes "Day", "Month" and "Year". These subclasses translate them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from govuk_frontend_wtf import wtforms_widgets as gov


class _TranslatedErrorPrefix:
    def map_gov_params(self, field: Any, **kwargs: Any) -> dict[str, Any]:
        params = super().map_gov_params(field, **kwargs)  # type: ignore[misc]
        if params.get("errorMessage"):
            params["errorMessage"]["visuallyHiddenText"] = _("Error")
        return params


class TextInput(_TranslatedErrorPrefix, gov.GovTextInput):
    pass


class PasswordInput(_TranslatedErrorPrefix, gov.GovPasswordInput):
    pass


class TextArea(_TranslatedErrorPrefix, gov.GovTextArea):
    pass


class CharacterCount(_TranslatedErrorPrefix, gov.GovCharacterCount):
    pass


class Select(_TranslatedErrorPrefix, gov.GovSelect):
    pass


class RadioInput(_TranslatedErrorPrefix, gov.GovRadioInput):
    pass


class CheckboxesInput(_TranslatedErrorPrefix, gov.GovCheckboxesInput):
    pass


class CheckboxInput(_TranslatedErrorPrefix, gov.GovCheckboxInput):
    pass


class DateInput(_TranslatedErrorPrefix, gov.GovDateInput):
    """Day, month and year boxes, labelled in the reader's language, tolerant of odd input."""

    def map_gov_params(self, field: Any, **kwargs: Any) -> dict[str, Any]:
        raw = list(field.raw_data or [])
        saved_raw = field.raw_data
        # The upstream widget unpacks exactly three values; a hand-made request may send fewer.
        field.raw_data = (raw + ["", "", ""])[:3] if field.raw_data is not None else None
        try:
            params = super().map_gov_params(field, **kwargs)
        finally:
            field.raw_data = saved_raw
        for item, label in zip(params["items"], (_("Day"), _("Month"), _("Year"))):
            item["label"] = label
        return params


SubmitInput = gov.GovSubmitInput  # nothing to translate: its text is the field's label
