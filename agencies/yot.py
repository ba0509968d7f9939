"""Youth Offending Team (YOT, in Wales also Youth Justice Service): holds the young person's case."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "yot"
NAME = _l("Youth Offending Team")
USUAL_PATHWAYS = (Pathway.TRANSITIONS, Pathway.FAMILIES, Pathway.ETE,)
RESTRICTED_PATHWAYS_READABLE = ()
