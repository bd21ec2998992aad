"""Names of the domain's codes (industries, inspection types, enterprise fields) in the UI
language, for every feature that shows them; an unknown code is shown as it is."""

from __future__ import annotations

from console.shell.i18n import tr


def industry_label(industry: str) -> str:
    """Translated industry name."""
    labels = {
        "dyeing": tr("Dyeing"),
        "electroplating": tr("Electroplating"),
        "pharma_chemical": tr("Pharmaceutical chemicals"),
        "plastic_pellets": tr("Plastic pelletising"),
        "boiler_power": tr("Boilers and power"),
        "wastewater_plant": tr("Wastewater treatment plant"),
    }
    return labels.get(industry, industry)


def inspection_type_label(kind: str) -> str:
    """Translated inspection type of a checklist template."""
    labels = {
        "routine": tr("Routine inspection"),
        "complaint": tr("Complaint verification"),
    }
    return labels.get(kind, kind)


def enterprise_field_label(field: str) -> str:
    """Translated name of an enterprise-file field (the ones checked and corrected on site)."""
    labels = {
        "name": tr("Enterprise name"),
        "credit_code": tr("Unified social credit code"),
        "legal_representative": tr("Legal representative"),
        "address": tr("Address"),
        "permit_no": tr("Discharge permit"),
        "industry": tr("Industry"),
    }
    return labels.get(field, field)
