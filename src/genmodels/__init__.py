"""genmodels: GANs, VAEs and RBMs under one scikit-learn-style API and command line."""

__version__ = "0.1.0"

from .apps.anomaly import AnomalyDetector
from .data import Dataset, load_dataset
from .errors import DataError, TrainingDiverged
from .models import DBN, GAN, RBM, VAE, ConvDBN, ConvRBM, PerClassModel, RatingsRBM, TabularSynthesizer, load
from .models.text_lm import TextLM
from .models.text_vae import TextVAE

__all__ = ["DBN", "GAN", "RBM", "VAE", "AnomalyDetector", "ConvDBN", "ConvRBM", "DataError", "Dataset", "PerClassModel",
           "RatingsRBM", "TabularSynthesizer", "TextLM", "TextVAE", "TrainingDiverged", "__version__", "load",
           "load_dataset"]
