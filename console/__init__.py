"""Command-and-dispatch GIS console for environmental enforcement centres (智慧执法指挥调度台)."""

__version__ = "0.1.0"
