"""LogitSumClassifier: a linear and a hidden-layer TorchBowClassifier, their logits summed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from intentroute.estimators import BowVectorizer, LogitSumClassifier, TorchBowClassifier
from intentroute.estimators.metrics import softmax

from .test_classifier import LABELS, TEXTS

torch = pytest.importorskip("torch")


def small(**params: object) -> LogitSumClassifier:
    return LogitSumClassifier(
        linear=TorchBowClassifier(hidden_size=0, epochs=30, batch_size=16, lr=5e-2, random_state=0),
        hidden=TorchBowClassifier(
            hidden_size=8, row_optimizer="rowwise_rmsprop", epochs=30, batch_size=16, lr=5e-2, random_state=1
        ),
    ).set_params(**params)


@parametrize_with_checks([small()])
def test_scikit_learn_estimator_checks(estimator: LogitSumClassifier, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_the_logits_are_the_two_models_logits_summed() -> None:
    vec = BowVectorizer().fit(TEXTS)
    X = vec.transform(TEXTS)
    clf = small().fit(X, LABELS)
    # each model is the one its own parameters fit alone
    linear = TorchBowClassifier(hidden_size=0, epochs=30, batch_size=16, lr=5e-2, random_state=0).fit(X, LABELS)
    hidden = clone(clf.hidden).fit(X, LABELS)
    assert np.array_equal(clf.linear_.coef_, linear.coef_) and np.array_equal(clf.hidden_.coef_, hidden.coef_)
    summed = linear.decision_function(X) + hidden.decision_function(X)
    assert np.allclose(clf.decision_function(X), summed)
    clf.temperature_ = 2.0
    assert np.allclose(clf.predict_proba(X), softmax(summed / 2.0))
    assert clf.predict(X).tolist() == LABELS
    assert clf.hidden_size == 8 and clf.n_features_in_ == vec.n_features_out_


def test_history_and_the_epoch_callback_name_the_model() -> None:
    vec = BowVectorizer().fit(TEXTS)
    seen: list[dict[str, object]] = []
    clf = small().fit(vec.transform(TEXTS), LABELS, epoch_callback=seen.append)
    assert [r["model"] for r in clf.history_] == ["linear"] * 30 + ["hidden"] * 30
    assert seen == clf.history_ and {"epoch", "loss"} <= set(seen[0])


def test_nested_parameters_search_in_a_pipeline() -> None:
    params = small().get_params()
    assert params["hidden__hidden_size"] == 8 and params["linear__lr"] == 5e-2
    pipe = Pipeline([("bow", BowVectorizer()), ("clf", small())])
    grid = GridSearchCV(pipe, {"clf__hidden__epochs": [5, 30]}, cv=2).fit(TEXTS * 2, LABELS * 2)
    assert grid.best_params_["clf__hidden__epochs"] in (5, 30)
    with pytest.raises(NotFittedError):
        small().predict([[1.0]])
    # a model left as None takes its defaults when one of its parameters is set (as a search does)
    from intentroute.estimators.ensemble import HIDDEN_DEFAULTS

    defaults = LogitSumClassifier().set_params(hidden__hidden_size=32)
    assert defaults.linear is None and defaults.hidden is not None
    assert defaults.hidden.get_params() == TorchBowClassifier(**{**HIDDEN_DEFAULTS, "hidden_size": 32}).get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        LogitSumClassifier().set_params(hidden__no_such=1)


def test_the_defaults_are_the_default_preset_s_models() -> None:
    from intentroute.train import PRESETS

    spec = PRESETS["default"]["classifier"]
    linear, hidden = LogitSumClassifier()._models()
    assert linear.get_params() == TorchBowClassifier(**spec["linear"]).get_params()
    assert hidden.get_params() == TorchBowClassifier(**spec["hidden"]).get_params()
    assert spec["linear"] == PRESETS["linear"]["classifier"]  # the linear preset's model


def test_calibration_fits_one_temperature_of_the_sum() -> None:
    vec = BowVectorizer().fit(TEXTS)
    X = vec.transform(TEXTS * 2)  # calibration's cross-validation wants five examples of each class
    clf = small().fit(X, LABELS * 2).calibrate(X, LABELS * 2)
    assert np.isfinite(clf.temperature_) and clf.temperature_ > 0 and clf.temperature_ != 1.0
    assert clf.ece_after_ <= clf.ece_before_
    assert np.allclose(clf.predict_proba(X), softmax(clf.decision_function(X) / clf.temperature_))


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"linear": TorchBowClassifier(hidden_size=4)}, "linear must have hidden_size 0"),
        ({"hidden": TorchBowClassifier(hidden_size=0)}, "hidden must have hidden_size > 0"),
        ({"hidden": "mlp"}, "hidden must be a TorchBowClassifier"),
        ({"hidden__row_optimizer": "sgd"}, "row_optimizer"),
    ],
)
def test_bad_models_are_value_errors_naming_them(params: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        small().set_params(**params).fit([[1.0], [0.0]], ["a", "b"])


def test_from_models_refuses_models_of_other_classes() -> None:
    vec = BowVectorizer().fit(TEXTS)
    X = vec.transform(TEXTS)
    a = TorchBowClassifier(hidden_size=0, epochs=2).fit(X, LABELS)
    b = TorchBowClassifier(hidden_size=4, epochs=2).fit(X[:6], LABELS[:6])
    with pytest.raises(ValueError, match="different classes"):
        LogitSumClassifier.from_models(a, b)


def test_row_wise_rmsprop_keeps_one_accumulator_per_row_and_leaves_other_rows() -> None:
    from intentroute.estimators.torch_ops import RowRMSprop

    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, generator=gen)
    start = weight.clone()
    opt = RowRMSprop(torch, weight, lr=0.1, weight_decay=0.0)
    index = torch.tensor([0, 3])
    rows = weight.detach().index_select(0, index).requires_grad_()
    (rows * torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])).sum().backward()
    opt.step(index, rows)
    grad = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    v = 0.001 * (grad**2).mean(axis=1)  # one number per row, bias-corrected below
    expected = start.numpy()[[0, 3]] - 0.1 * grad / (np.sqrt(v / 0.001) + 1e-8)[:, None]
    assert np.allclose(weight.numpy()[[0, 3]], expected, atol=1e-6)
    assert torch.equal(weight[[1, 2, 4]], start[[1, 2, 4]]) and torch.equal(opt.v[[1, 2, 4]], torch.zeros(3))
    assert opt.v.shape == (5,)


def test_partial_fit_updates_both_models_from_their_weights() -> None:
    vec = BowVectorizer().fit(TEXTS)
    X = vec.transform(TEXTS)
    clf = small()
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, LABELS)
    clf = small()
    for _ in range(30):
        clf.partial_fit(X, LABELS, classes=sorted(set(LABELS)))
    assert clf.predict(X).tolist() == LABELS
    assert [r["model"] for r in clf.history_[:2]] == ["linear", "hidden"] and len(clf.history_) == 60
    before = clf.linear_.coef_.copy(), clf.hidden_.hidden_coef_.copy()
    clf.partial_fit(vec.transform(["cash please"]), ["cash_balance"])
    assert not np.array_equal(clf.linear_.coef_, before[0]) and not np.array_equal(clf.hidden_.hidden_coef_, before[1])
    with pytest.raises(ValueError, match="not among classes_"):
        clf.partial_fit(vec.transform(["sell it"]), ["trade"])
