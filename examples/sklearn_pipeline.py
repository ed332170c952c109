"""Generate the brokerage training set and fit a scikit-learn pipeline on BowVectorizer features.

    python examples/sklearn_pipeline.py

Shows the generator's template split (whole phrasings held out of training); the recommended
defaults, make_pipeline(BowVectorizer(), TorchBowClassifier()); BowVectorizer in a Pipeline +
GridSearchCV with scikit-learn's LogisticRegression as the classifier; then the default preset's
classifier (LogitSumClassifier: a linear and a 128-unit model, their logits summed) in a
Pipeline, and a search over its hidden model's width.
"""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline

from intentroute.data import GeneratorConfig, generate, load_templates
from intentroute.domains import domain_path
from intentroute.estimators import BowVectorizer, LogitSumClassifier, TorchBowClassifier
from intentroute.train import PRESETS


def main() -> None:
    templates = load_templates(domain_path("brokerage", "templates.json"))
    data = generate(templates, GeneratorConfig(size=6000, seed=7, split="template"))
    X_train, y_train = [e.text for e in data.train], [e.intent for e in data.train]
    X_test, y_test = [e.text for e in data.test], [e.intent for e in data.test]

    # the defaults are the recommended settings: the presets' features, a 512-unit hidden layer
    default = make_pipeline(BowVectorizer(), TorchBowClassifier(random_state=7)).fit(X_train, y_train)
    print(f"the defaults on held-out templates: {default.score(X_test, y_test):.3f}")

    pipe = Pipeline([("bow", BowVectorizer()), ("clf", LogisticRegression(max_iter=1000))])
    grid = GridSearchCV(pipe, {"bow__char_ngrams": [None, (3, 5)], "bow__weighting": ["count", "tfidf"]}, cv=3)
    grid.fit(X_train, y_train)
    print("best parameters:", grid.best_params_)
    print(f"accuracy on held-out templates: {grid.score(X_test, y_test):.3f}")
    for text in ["whats my buying power", "how did apple do for me this year", "qoute for nvda"]:
        print(f"{text!r:40} -> {grid.predict([text])[0]}")

    # the default preset's features and classifier; its two models are nested parameters
    summed = Pipeline([("bow", BowVectorizer(**PRESETS["default"]["vectorizer"])), ("clf", LogitSumClassifier())])
    search = GridSearchCV(summed, {"clf__hidden__hidden_size": [32, 128]}, cv=3).fit(X_train, y_train)
    print("best hidden width:", search.best_params_["clf__hidden__hidden_size"])
    print(f"LogitSumClassifier accuracy on held-out templates: {search.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
