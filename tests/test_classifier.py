from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from intentroute.estimators import BowVectorizer
from intentroute.estimators.classifier import TorchBowClassifier
from intentroute.estimators.metrics import expected_calibration_error, softmax
from intentroute.train import PRESETS

pytest.importorskip("torch")

TEXTS = [
    "price of aapl",
    "aapl quote",
    "quote for msft",
    "msft price now",
    "my cash balance",
    "how much cash",
    "cash available",
    "buying power cash",
    "list my holdings",
    "show all positions",
    "what do i own",
    "all my holdings",
]
LABELS = ["quotes"] * 4 + ["cash_balance"] * 4 + ["positions_list"] * 4

# Every check scikit-learn runs. Checks this estimator fails on purpose would be listed here with the
# reason; today there are none. (Checks of sample_weight are skipped by scikit-learn itself because
# fit takes no sample_weight, and the pandas / array-API checks because those extras are not installed.)
EXPECTED_FAILURES: dict[str, str] = {}


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILURES


@parametrize_with_checks(
    [
        TorchBowClassifier(hidden_size=0, epochs=40, batch_size=16, lr=5e-2, random_state=0),
        TorchBowClassifier(hidden_size=8, dropout=0.2, epochs=40, batch_size=16, lr=5e-2, random_state=0),
        TorchBowClassifier(hidden_size=0, input_dropout=0.3, epochs=40, batch_size=16, lr=5e-2, random_state=0),
        TorchBowClassifier(random_state=0),  # the defaults
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_scikit_learn_estimator_checks(estimator: TorchBowClassifier, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def _fit(**params: object) -> tuple[BowVectorizer, TorchBowClassifier]:
    vec = BowVectorizer().fit(TEXTS)
    # the settings these tests were written with (the defaults before they became the mlp preset's)
    base = {"hidden_size": 0, "dropout": 0.0, "lr": 1e-2, "batch_size": 32, "epochs": 40, "random_state": 0}
    settings: dict[str, Any] = {**base, **params}
    clf = TorchBowClassifier(**settings).fit(vec.transform(TEXTS), LABELS)
    return vec, clf


def test_learns_and_predicts_labels_and_probabilities() -> None:
    vec, clf = _fit()
    X = vec.transform(["quote for aapl", "cash please", "show my holdings"])
    assert clf.predict(X).tolist() == ["quotes", "cash_balance", "positions_list"]
    proba = clf.predict_proba(X)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert clf.classes_.tolist() == ["cash_balance", "positions_list", "quotes"]
    assert len(clf.history_) == 40 and {"epoch", "loss"} <= set(clf.history_[0])


def test_fitting_is_reproducible_for_a_fixed_seed() -> None:
    _, a = _fit()
    _, b = _fit()
    assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.intercept_, b.intercept_)
    vec = BowVectorizer().fit(TEXTS)
    c = TorchBowClassifier(hidden_size=0, epochs=40, random_state=1).fit(vec.transform(TEXTS), LABELS)
    assert not np.array_equal(a.coef_, c.coef_)


def test_sparse_input_is_never_densified_and_equals_dense_results() -> None:
    vec = BowVectorizer().fit(TEXTS)
    Xs = vec.transform(TEXTS)
    a = TorchBowClassifier(hidden_size=0, epochs=20, random_state=0).fit(Xs, LABELS)
    b = TorchBowClassifier(hidden_size=0, epochs=20, random_state=0).fit(Xs.toarray(), LABELS)
    assert np.allclose(a.coef_, b.coef_, atol=1e-5)


def test_hidden_layer_model_learns_too() -> None:
    vec, clf = _fit(hidden_size=16)
    assert clf.hidden_coef_.shape == (16, vec.n_features_out_)
    assert (clf.predict(vec.transform(TEXTS)) == np.array(LABELS)).mean() == 1.0


def test_prediction_does_not_need_torch() -> None:
    vec, clf = _fit()
    blob = pickle.dumps((vec, clf))
    code = (
        "import sys, pickle\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'): raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "vec, clf = pickle.loads(sys.stdin.buffer.read())\n"
        "print(clf.predict(vec.transform(['quote for msft']))[0])\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert out.stdout.decode().strip() == "quotes"


def test_partial_fit_updates_an_existing_model_with_new_examples() -> None:
    vec = BowVectorizer().fit([*TEXTS, "wire transfer status"])
    X = vec.transform(TEXTS)
    clf = TorchBowClassifier(hidden_size=0, random_state=0, lr=5e-2)
    classes = ["cash_balance", "positions_list", "quotes"]
    for _ in range(30):
        clf.partial_fit(X, LABELS, classes=classes)
    assert (clf.predict(X) == np.array(LABELS)).mean() == 1.0
    before = clf.coef_.copy()
    clf.partial_fit(vec.transform(["wire transfer status"]), ["cash_balance"])
    assert not np.array_equal(before, clf.coef_)
    with pytest.raises(ValueError, match="not among classes_"):
        clf.partial_fit(vec.transform(["x"]), ["transfers"])
    with pytest.raises(ValueError, match="classes must be passed"):
        TorchBowClassifier(hidden_size=0).partial_fit(X, LABELS)


def test_early_stopping_keeps_the_best_epoch() -> None:
    vec = BowVectorizer().fit(TEXTS)
    X = sp.vstack([vec.transform(TEXTS)] * 5)
    clf = TorchBowClassifier(
        hidden_size=0, epochs=200, early_stopping=True, n_iter_no_change=3, random_state=0, lr=5e-2
    )
    clf.fit(X, LABELS * 5)
    assert len(clf.history_) < 200 and "val_accuracy" in clf.history_[-1]


def test_validation_data_is_scored_every_epoch() -> None:
    vec = BowVectorizer().fit(TEXTS)
    seen: list[dict[str, object]] = []
    TorchBowClassifier(hidden_size=0, epochs=5, random_state=0).fit(
        vec.transform(TEXTS),
        LABELS,
        X_val=vec.transform(TEXTS[:3]),
        y_val=LABELS[:3],
        epoch_callback=seen.append,
    )
    assert [r["epoch"] for r in seen] == [1, 2, 3, 4, 5] and all("val_accuracy" in r for r in seen)


def test_class_weight_balanced_and_dict() -> None:
    vec = BowVectorizer().fit(TEXTS)
    X = vec.transform(TEXTS)
    for cw in ("balanced", {"quotes": 2.0}):
        assert TorchBowClassifier(hidden_size=0, epochs=5, class_weight=cw, random_state=0).fit(
            X, LABELS
        ).coef_.shape == (
            3,
            X.shape[1],
        )
    with pytest.raises(ValueError, match="unknown classes"):
        TorchBowClassifier(hidden_size=0, epochs=1, class_weight={"weather": 2.0}).fit(X, LABELS)


def test_temperature_calibration_uses_scikit_learn_and_lowers_ece() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(0.3, size=(600, 40)).astype(np.float32))
    w = rng.normal(size=(40, 3))
    y = (X @ w + rng.gumbel(size=(600, 3)) * 2).argmax(axis=1)
    clf = TorchBowClassifier(hidden_size=0, epochs=60, lr=5e-2, random_state=0).fit(
        X[:300], y[:300]
    )  # overfits: overconfident
    clf.calibrate(X[300:], y[300:])
    assert clf.temperature_ > 1.0 and clf.ece_after_ < clf.ece_before_
    ref = CalibratedClassifierCV(
        FrozenEstimator(TorchBowClassifier(hidden_size=0, epochs=60, lr=5e-2, random_state=0).fit(X[:300], y[:300])),
        method="temperature",
    ).fit(X[300:], y[300:])
    assert np.allclose(ref.predict_proba(X[300:]), clf.predict_proba(X[300:]), atol=1e-4)


def test_expected_calibration_error_and_softmax() -> None:
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0
    assert np.allclose(softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


def test_pipeline_grid_search_clone_and_not_fitted() -> None:
    pipe = Pipeline([("bow", BowVectorizer()), ("clf", TorchBowClassifier(hidden_size=0, epochs=10, random_state=0))])
    grid = GridSearchCV(pipe, {"clf__lr": [1e-2, 5e-2]}, cv=2).fit(TEXTS * 2, LABELS * 2)
    assert grid.best_params_["clf__lr"] in (1e-2, 5e-2)
    assert clone(TorchBowClassifier(hidden_size=0, lr=0.3)).get_params()["lr"] == 0.3
    with pytest.raises(NotFittedError):
        TorchBowClassifier(hidden_size=0).predict([[1.0]])


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"lr": 0}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"class_weight": "auto"}, "class_weight"),
        ({"hidden_size": -1}, "hidden_size"),
        ({"hidden_size": 4, "dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"input_dropout": 0.99}, "input_dropout"),
        ({"input_dropout": "half"}, "input_dropout"),
    ],
)
def test_bad_parameters_are_value_errors_naming_them(params: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        TorchBowClassifier(**params).fit([[1.0], [0.0]], ["a", "b"])  # type: ignore[arg-type]


def test_row_sparse_adam_equals_torch_adam_on_the_rows_it_updates() -> None:
    torch = pytest.importorskip("torch")
    from intentroute.estimators.torch_ops import RowAdam

    gen = torch.Generator().manual_seed(0)
    start = torch.randn(6, 4, generator=gen)
    ours = start.clone().requires_grad_()
    ref = start.clone().requires_grad_()
    row_opt = RowAdam(torch, ours, lr=0.05, weight_decay=0.01)
    adam = torch.optim.Adam([ref], lr=0.05, weight_decay=0.01)
    every = torch.arange(6)
    for step in range(5):
        target = torch.randn(6, 4, generator=gen)
        rows = ours.detach().index_select(0, every).requires_grad_()
        ((rows - target) ** 2 * (step + 1)).sum().backward()
        row_opt.step(every, rows)
        adam.zero_grad()
        ((ref - target) ** 2 * (step + 1)).sum().backward()
        adam.step()
        assert torch.allclose(ours, ref, atol=1e-6)
    # a step that touches rows 1 and 4 leaves the others, and their moments, as they were
    before, m_before = ours.detach().clone(), row_opt.m.clone()
    some = torch.tensor([1, 4])
    rows = ours.detach().index_select(0, some).requires_grad_()
    rows.sum().backward()
    row_opt.step(some, rows)
    untouched = torch.tensor([0, 2, 3, 5])
    assert torch.equal(ours.detach()[untouched], before[untouched])
    assert torch.equal(row_opt.m[untouched], m_before[untouched])
    assert not torch.equal(ours.detach()[some], before[some])


def test_dropout_is_reproducible_changes_training_and_still_learns() -> None:
    _, a = _fit(hidden_size=16, dropout=0.3)
    _, b = _fit(hidden_size=16, dropout=0.3)
    _, plain = _fit(hidden_size=16)
    vec, _ = _fit()
    assert np.array_equal(a.hidden_coef_, b.hidden_coef_) and np.array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.hidden_coef_, plain.hidden_coef_)
    assert (a.predict(vec.transform(TEXTS)) == np.array(LABELS)).mean() == 1.0


def test_dropout_leaves_a_linear_model_as_it_was() -> None:
    _, a = _fit(dropout=0.5)
    _, b = _fit()
    assert np.array_equal(a.coef_, b.coef_)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.floats(0.1, 5.0), min_size=0, max_size=6), min_size=1, max_size=12),
    st.sampled_from([0.1, 0.5, 0.9]),
    st.integers(0, 2**31 - 1),
)
def test_input_dropout_keeps_or_removes_each_value_and_scales_the_kept(
    rows: list[list[float]], p: float, seed: int
) -> None:
    X = sp.csr_matrix(
        (
            np.array([v for r in rows for v in r], dtype=np.float32),
            np.concatenate([np.arange(len(r)) for r in rows]).astype(np.int32),
            np.concatenate(([0], np.cumsum([len(r) for r in rows]))),
        ),
        shape=(len(rows), 6),
    )
    out = TorchBowClassifier(hidden_size=0, input_dropout=p)._dropped(X, np.random.default_rng(seed))
    out.check_format(full_check=True)
    assert out.shape == X.shape and out.dtype == np.float32
    dense, before = out.toarray(), X.toarray()
    kept = dense != 0
    np.testing.assert_allclose(dense[kept], before[kept] / (1 - p), rtol=1e-6)  # every kept value, scaled
    assert out.nnz == kept.sum()  # the dropped ones are removed, not stored as zeros


def test_input_dropout_drops_its_share_and_keeps_the_expected_input() -> None:
    X = sp.csr_matrix(np.ones((400, 50), dtype=np.float32))
    out = TorchBowClassifier(hidden_size=0, input_dropout=0.3)._dropped(X, np.random.default_rng(0))
    assert out.nnz / X.nnz == pytest.approx(0.7, abs=0.01)
    assert float(out.sum()) / float(X.sum()) == pytest.approx(1.0, abs=0.02)


def test_input_dropout_is_reproducible_and_spreads_a_class_over_its_features() -> None:
    # Class "a" always has feature 0 and, in half of its examples, feature 1; class "b" has feature 2.
    # Trained on all of its features, a model leans on feature 0; with input dropout it must also learn
    # feature 1, so an utterance that has only feature 1 leans towards "a" more.
    X = np.zeros((200, 3), dtype=np.float32)
    X[:100, 0] = 1
    X[:100:2, 1] = 1
    X[100:, 2] = 1
    y = ["a"] * 100 + ["b"] * 100
    fit = {"epochs": 30, "batch_size": 20, "lr": 5e-2, "weight_decay": 1e-3, "random_state": 0}
    plain = TorchBowClassifier(**fit).fit(X, y)  # type: ignore[arg-type]
    a = TorchBowClassifier(hidden_size=0, input_dropout=0.5, **fit).fit(X, y)  # type: ignore[arg-type]
    b = TorchBowClassifier(hidden_size=0, input_dropout=0.5, **fit).fit(X, y)  # type: ignore[arg-type]
    assert np.array_equal(a.coef_, b.coef_)
    only_1 = np.array([[0, 1, 0]], dtype=np.float32)
    assert a.decision_function(only_1)[0] < plain.decision_function(only_1)[0]  # (logit of b minus a)
    assert (a.predict(X) == np.array(y)).all()
    # prediction reads every feature: the same input gives the same probabilities every time
    assert np.array_equal(a.predict_proba(X), a.predict_proba(X))


def test_input_dropout_zero_is_the_model_without_it() -> None:
    _, a = _fit(input_dropout=0.0)
    _, b = _fit()
    assert np.array_equal(a.coef_, b.coef_)


def test_input_dropout_trains_a_hidden_layer_too() -> None:
    vec, a = _fit(hidden_size=16, input_dropout=0.3)
    _, plain = _fit(hidden_size=16)
    assert not np.array_equal(a.hidden_coef_, plain.hidden_coef_)
    assert (a.predict(vec.transform(TEXTS)) == np.array(LABELS)).mean() == 1.0


def test_hidden_layer_rows_of_absent_features_keep_their_initial_weights() -> None:
    vec = BowVectorizer().fit([*TEXTS, "zebra crossing"])
    X = vec.transform(TEXTS)
    absent = np.flatnonzero(np.asarray(X.sum(axis=0)).ravel() == 0)
    assert len(absent)
    clf = TorchBowClassifier(hidden_size=8, epochs=5, random_state=0, weight_decay=0.1).fit(X, LABELS)
    init = TorchBowClassifier(hidden_size=8, epochs=1, random_state=0, lr=1e-9).fit(X, LABELS)
    assert np.array_equal(clf.hidden_coef_[:, absent], init.hidden_coef_[:, absent])


def test_the_defaults_are_the_mlp_preset_s_and_the_vectorizer_s_the_presets_features() -> None:
    # the recommended settings (docs/training.md): scikit-learn users get them without a preset
    mlp = dict(PRESETS["mlp"]["classifier"])
    assert mlp.pop("random_state") == 7 and TorchBowClassifier().random_state is None
    assert {k: TorchBowClassifier().get_params()[k] for k in mlp} == mlp
    features = PRESETS["default"]["vectorizer"]
    assert {k: BowVectorizer().get_params()[k] for k in features} == features
    assert PRESETS["linear"]["vectorizer"] == PRESETS["mlp"]["vectorizer"] == features
