"""Any other agency a partnership works with."""

from flask_babel import lazy_gettext as _l

KEY = "other"
NAME = _l("Other")
USUAL_PATHWAYS = ()
RESTRICTED_PATHWAYS_READABLE = ()
