"""Pictures and pages: PNG grids and curves, and the self-contained HTML report."""

from .html import image_tag, table, write_report
from .plots import image_grid, save_curves, save_image_grid, save_roc

__all__ = ["image_grid", "image_tag", "save_curves", "save_image_grid", "save_roc", "table", "write_report"]
