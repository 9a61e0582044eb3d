"""The conformance suite every registered family runs (scikit-learn's `check_estimator` plays this role for its
estimators). A new family is one file plus its line in `genmodels.models.FAMILIES`, and one row in CASES below:
how to make a small data set for it and its fast settings. Each test says what the family is missing.

- it declares the contract: capabilities from CAPABILITIES, a constraint for every hyperparameter that accepts
  its default and refuses a bad value at fit with one DataError line naming it;
- clone / get_params / set_params;
- fit -> save -> load gives the same outputs (samples for a fixed seed, or predictions);
- a fit killed mid-epoch and resumed ends with the same weights as an uninterrupted one;
- a time budget stops training cleanly, and resume=True finishes it exactly;
- bad input is a DataError.
Array families also run scikit-learn's `check_estimator`, with the checks that cannot apply declared below.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from genmodels import DataError, load
from genmodels.models import CAPABILITIES, FAMILIES, ArrayModel
from genmodels.models.params import check_params


def digits_small(labels: bool = False):
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images[:240] / 16.0 > 0.5).astype(np.float32)
    return (X, d.target[:240]) if labels else (X, None)


def mixed_table():
    rng = np.random.default_rng(0)
    n = 240
    kind = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame({"x": rng.normal(size=n) + (kind == "a"), "y": rng.exponential(size=n),
                         "kind": kind, "flag": rng.choice(["yes", "no"], n)}), None


def ratings_table():
    rng = np.random.default_rng(0)
    users, items = np.meshgrid(np.arange(40), np.arange(30), indexing="ij")
    keep = rng.random(users.shape) < 0.4
    taste = rng.normal(size=40)[:, None] + rng.normal(size=30)[None, :]
    rating = np.clip(np.round(3 + taste + rng.normal(scale=0.5, size=users.shape)), 1, 5)
    return pd.DataFrame({"user": users[keep], "item": items[keep], "rating": rating[keep]}), None


def sentences():
    rng = np.random.default_rng(0)
    words = ["the", "cat", "dog", "sat", "ran", "on", "a", "mat", "park", "big"]
    return [" ".join(rng.choice(words, rng.integers(2, 7))) for _ in range(40)], None


@dataclass
class Case:
    data: Callable[[], tuple[Any, Any]]
    params: dict[str, Any]
    bad_data: list[Any] = field(default_factory=list)


EMPTY = np.zeros((0, 64), np.float32)
NAN = np.full((10, 64), np.nan, np.float32)
CASES: dict[str, Case] = {
    "vae": Case(digits_small, {"hidden_dims": (32,), "latent_dim": 4, "batch_size": 32, "epochs": 3},
                [EMPTY, NAN]),
    "gan": Case(lambda: digits_small(True), {"hidden_dims": (32, 32), "latent_dim": 4, "batch_size": 32,
                                              "epochs": 3, "conditional": True}, [EMPTY, NAN]),
    "rbm": Case(digits_small, {"n_hidden": 16, "batch_size": 32, "epochs": 3, "persistent": True}, [EMPTY, NAN]),
    "dbn": Case(lambda: digits_small(True), {"layers": (16, 8), "pretrain_epochs": 2, "epochs": 3,
                                              "batch_size": 32}, [EMPTY, NAN]),
    "rbm_cf": Case(ratings_table, {"n_hidden": 8, "batch_size": 8, "epochs": 4},
                   [pd.DataFrame({"user": [], "item": [], "rating": []})]),
    "tabular": Case(mixed_table, {"epochs": 3, "batch_size": 60, "pac": 10}, [pd.DataFrame()]),
    "tabular_gan": Case(mixed_table, {"epochs": 3, "batch_size": 60, "pac": 10}, [pd.DataFrame()]),
    "tabular_vae": Case(mixed_table, {"epochs": 3, "batch_size": 60}, [pd.DataFrame()]),
    "textvae": Case(sentences, {"latent_dim": 2, "embed_dim": 8, "hidden_dim": 8, "epochs": 3, "batch_size": 16,
                                "iwae_k": 4, "max_len": 10}, [[], ["   "], "text:/nonexistent.txt", [3.0]]),
    "textlm": Case(sentences, {"embed_dim": 8, "hidden_dim": 8, "epochs": 3, "batch_size": 16, "max_len": 10},
                   [[], ["   "], "text:/nonexistent.txt", [3.0]]),
    "convrbm": Case(digits_small, {"n_filters": 4, "filter_size": 3, "batch_size": 32, "epochs": 3,
                                   "persistent": True, "burn_in": 20, "ais_betas": 100}, [EMPTY, NAN]),
    "convdbn": Case(digits_small, {"n_filters": (4, 4), "filter_size": (3, 2), "pool": (2, 1), "batch_size": 32,
                                   "epochs": 2, "burn_in": 20}, [EMPTY, NAN]),
}
# families whose data are not arrays: what `fit` gets besides X
NAMES = sorted(FAMILIES)


def case(name: str) -> Case:
    if name not in CASES:
        pytest.fail(f"family {name!r} is registered but has no row in tests/test_contract.py CASES: add how to make "
                    "a small data set for it and its fast settings")
    return CASES[name]


def make(name: str, **extra):
    return FAMILIES[name](**{**case(name).params, "verbose": 0, "seed": 1, **extra})


def fit(model, name: str, **kwargs):
    X, y = case(name).data()
    return model.fit(X, y, **kwargs) if y is not None else model.fit(X, **kwargs)


def outputs(model, name: str) -> list:
    """What the fitted model gives for a fixed seed: samples (arrays, a table or sentences) or predictions."""
    if model.supports("sample"):
        out = [model.sample(6, seed=5)]
        if model.supports("transform"):
            out.append(model.transform(case(name).data()[0][:6]))
        return out
    if model.supports("recommend"):
        return [model.predict(np.arange(5), np.arange(5))]
    pytest.fail(f"{type(model).__name__} declares neither sample nor recommend: the contract test cannot compare it")


def assert_same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module_.state_dict().items()}


def assert_same_weights(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs after resume"


# --- the declarations ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_declares_capabilities_and_a_constraint_for_every_hyperparameter(name):
    cls = FAMILIES[name]
    assert cls.family == name, f"{cls.__name__}.family is {cls.family!r}, registered as {name!r}"
    unknown = set(cls.capabilities) - CAPABILITIES
    assert cls.capabilities and not unknown, f"{cls.__name__}.capabilities: empty or unknown {sorted(unknown)}"
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    declared = set(cls._parameter_constraints)
    assert params == declared, (f"{cls.__name__}._parameter_constraints: missing {sorted(params - declared)}, "
                                f"extra {sorted(declared - params)}")
    check_params(cls())  # every default is accepted
    for capability, method in (("sample", "sample"), ("transform", "transform"), ("reconstruct", "reconstruct"),
                               ("likelihood", "log_likelihood"), ("anomaly", "anomaly_score"),
                               ("partial_fit", "partial_fit"), ("recommend", "recommend")):
        if capability in cls.capabilities:
            assert hasattr(cls, method), f"{cls.__name__} declares {capability!r} but has no {method}()"
    if "partial_fit" not in cls.capabilities:
        assert not hasattr(cls, "partial_fit"), f"{cls.__name__} has partial_fit but does not declare it"
    run_options = {"run_dir", "resume", "overwrite", "time_budget", "logger"}  # what the training commands pass
    missing = run_options - set(inspect.signature(cls.fit).parameters)
    assert not missing, f"{cls.__name__}.fit lacks the keyword(s) {sorted(missing)} every family's fit takes"


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_value_for_every_hyperparameter_is_one_data_error_at_fit(name):
    cls = FAMILIES[name]
    for param, constraints in cls._parameter_constraints.items():
        for bad in (c.bad_value() for c in constraints):
            if any(c.ok(bad) for c in constraints):
                continue
            model = make(name).set_params(**{param: bad})
            with pytest.raises(DataError) as err:
                fit(model, name)
            message = str(err.value)
            assert param in message and "\n" not in message, message
            assert not hasattr(model, "module_"), f"{param}={bad!r}: a network was built before the check"


@pytest.mark.parametrize("name", NAMES)
def test_clone_get_params_and_set_params(name):
    model = make(name)
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert model.set_params(seed=7) is model and model.seed == 7
    assert FAMILIES[name]().get_params() == FAMILIES[name]().get_params()


# --- training, persistence, resume -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_fit_save_load_gives_the_same_outputs(name, tmp_path):
    model = fit(make(name), name)
    assert fit(make(name), name) is not None
    model.save(tmp_path / "run")
    loaded = load(tmp_path / "run")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert_same(outputs(model, name), outputs(loaded, name))


@pytest.mark.parametrize("name", [n for n in NAMES if "likelihood" in FAMILIES[n].capabilities])
def test_log_likelihood_is_one_result_type(name):
    from genmodels.models import LikelihoodEstimate

    model = fit(make(name), name)
    est = model.log_likelihood(case(name).data()[0][:50])
    assert isinstance(est, LikelihoodEstimate) and np.isfinite(est.mean) and est.method in ("exact", "ais", "iwae")
    assert float(est) == est.mean == float(np.asarray(est))  # usable wherever a number is
    assert est.interval[0] <= est.mean <= est.interval[1]


class Stop(Exception):
    pass


@pytest.mark.parametrize("name", NAMES)
def test_a_fit_killed_mid_epoch_resumes_to_the_uninterrupted_result(name, tmp_path):
    whole = fit(make(name), name)
    killed = make(name, checkpoint_every=1)
    step = killed._training_step
    seen = {}

    def stop_mid_second_epoch(batch, info):
        seen.setdefault("per_epoch", info.steps_per_epoch)
        if info.epoch == 1 and info.step_in_epoch == info.steps_per_epoch // 2:
            raise Stop
        return step(batch, info)

    killed._training_step = stop_mid_second_epoch
    with pytest.raises(Stop):
        fit(killed, name, run_dir=tmp_path / "run")
    assert seen["per_epoch"] >= 2, "CASES: the data must give at least two steps per epoch"
    with pytest.raises(DataError, match="already holds a run"):
        fit(make(name), name, run_dir=tmp_path / "run")  # never silently overwritten
    resumed = fit(make(name, checkpoint_every=1), name, run_dir=tmp_path / "run", resume=True)
    assert_same_weights(whole, resumed)


@pytest.mark.parametrize("name", NAMES)
def test_a_time_budget_stops_cleanly_and_resume_finishes_exactly(name, tmp_path):
    whole = fit(make(name), name)
    stopped = fit(make(name), name, run_dir=tmp_path / "run", time_budget=1e-6)
    assert stopped.budget_exhausted_ and stopped.stop_reason_
    resumed = fit(make(name), name, run_dir=tmp_path / "run", resume=True)
    assert not resumed.budget_exhausted_
    assert_same_weights(whole, resumed)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_a_data_error(name):
    for bad in case(name).bad_data:
        with pytest.raises(DataError):
            make(name).fit(bad)


# --- scikit-learn's own conformance checks, on the array families ------------------------------------------------
# what each family runs check_estimator with: real-valued data needs the Gaussian forms
CHECK_PARAMS = {"vae": {"hidden_dims": (8,), "latent_dim": 2, "likelihood": "gaussian"},
                "gan": {"hidden_dims": (8, 8), "latent_dim": 2},
                "rbm": {"n_hidden": 4, "visible": "gaussian"},
                "dbn": {"layers": (4,), "pretrain_epochs": 1},
                "convrbm": {"n_filters": 2, "filter_size": 2, "visible": "gaussian", "burn_in": 5},
                "convdbn": {"n_filters": (2,), "filter_size": (2,), "pool": (2,), "visible": "gaussian", "burn_in": 5}}
# the checks that cannot apply, each with the reason
OWN_WORDING = "genmodels' errors are one DataError line in its own words, not the messages scikit-learn matches"
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "*": {"check_dtype_object": OWN_WORDING + " (strings in an object array)",
          "check_estimators_empty_data_messages": OWN_WORDING},
    "vae": {"check_methods_sample_order_invariance": "the IWAE bound draws its importance samples per batch, so a "
                                                     "row's score depends on the rows scored with it",
            "check_methods_subset_invariance": "as above: importance samples are drawn per batch"},
    "dbn": {**dict.fromkeys(
        ["check_classifier_data_not_an_array", "check_classifiers_classes", "check_classifiers_train", "check_dict_unchanged", "check_dont_overwrite_parameters", "check_estimators_dtypes", "check_estimators_fit_returns_self", "check_estimators_overwrite_params", "check_estimators_partial_fit_n_features", "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent", "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in", "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_readonly_memmap_input", "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes", "check_positive_only_tag_during_fit", "check_classifiers_regression_target", "check_fit2d_1feature"],
        "a DBN's Bernoulli units need X in [0, 1]; scikit-learn's generated data lies outside it"),
            "check_supervised_y_2d": OWN_WORDING + " (y must be 1-D)",
            "check_requires_y_none": OWN_WORDING},
}


@pytest.mark.parametrize("name", [n for n in NAMES if issubclass(FAMILIES[n], ArrayModel)])
def test_scikit_learn_check_estimator(name):
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    if name not in CHECK_PARAMS:
        pytest.fail(f"array family {name!r} has no row in tests/test_contract.py CHECK_PARAMS")
    model = FAMILIES[name](**CHECK_PARAMS[name], epochs=1, batch_size=16, verbose=0)
    expected = {**EXPECTED_FAILURES["*"], **EXPECTED_FAILURES.get(name, {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(model, expected_failed_checks=expected, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, "; ".join(f"{r['check_name']}: {str(r['exception']).splitlines()[0][:200]}" for r in failed)
