"""genmodels: GANs, VAEs and RBMs under one scikit-learn-style API and command line."""

__version__ = "0.1.0"

from .data import Dataset, load_dataset
from .errors import DataError, TrainingDiverged
from .models import GAN, VAE, load

__all__ = ["GAN", "VAE", "DataError", "Dataset", "TrainingDiverged", "__version__", "load", "load_dataset"]
