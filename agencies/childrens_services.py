"""Local authority children's social care, leaving-care teams."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "childrens_services"
NAME = _l("Children's services")
USUAL_PATHWAYS = (Pathway.FAMILIES, Pathway.ACCOMMODATION, Pathway.FINANCE,)
RESTRICTED_PATHWAYS_READABLE = ()
