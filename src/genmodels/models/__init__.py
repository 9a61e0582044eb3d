"""Model families, one file each, and `load` for any saved run folder."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..io import read_json
from .array import ArrayModel
from .base import CAPABILITIES, CONFIG, WEIGHTS, LikelihoodEstimate, TrainedModel
from .convdbn import ConvDBN
from .convrbm import ConvRBM
from .ctgan import TabularGAN
from .dbn import DBN
from .gan import GAN
from .per_class import PerClassModel
from .rbm import RBM
from .rbm_cf import RatingsRBM
from .tabular import TabularSynthesizer
from .tabular_base import TabularBase
from .text_lm import TextLM
from .text_vae import TextVAE
from .tvae import TabularVAE
from .vae import VAE

FAMILIES: dict[str, type[TrainedModel]] = {
    "vae": VAE, "gan": GAN, "rbm": RBM, "dbn": DBN, "convrbm": ConvRBM, "convdbn": ConvDBN,  # arrays and images
    "rbm_cf": RatingsRBM,  # ratings tables
    "tabular": TabularSynthesizer, "tabular_gan": TabularGAN, "tabular_vae": TabularVAE,  # mixed-type tables
    "textvae": TextVAE, "textlm": TextLM,  # sentences (text:FILE)
}


def load(path: str | Path) -> TrainedModel:
    """Load a model saved by `.save(path)` or written by training into a run folder. Reads only JSON and
    safetensors: a pickle or any other file is refused, never executed."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not (folder / CONFIG).is_file():
        raise DataError(f"{path}: not a genmodels run folder (no {CONFIG})")
    config = read_json(folder / CONFIG)
    family = config.get("family") if isinstance(config, dict) else None
    if family not in FAMILIES:
        raise DataError(f"{folder / CONFIG}: unknown model family {family!r} (known: {sorted(FAMILIES)})")
    if not (folder / WEIGHTS).is_file():
        raise DataError(f"{folder}: no {WEIGHTS} (was training finished? `genmodels train --resume` continues it)")
    return FAMILIES[family]._from_config(config, folder)


__all__ = ["CAPABILITIES", "DBN", "FAMILIES", "GAN", "RBM", "VAE", "ArrayModel", "ConvDBN", "ConvRBM", "LikelihoodEstimate",
           "PerClassModel", "RatingsRBM", "TabularBase", "TabularGAN", "TabularSynthesizer", "TabularVAE", "TextLM",
           "TextVAE", "TrainedModel", "load"]
