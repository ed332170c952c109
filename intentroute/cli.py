"""The ``intentroute`` command line: route, layers, status, generate, train, evaluate, tune, review,
serve.

One click group in one module (about 840 lines): most of it is the commands' option declarations
and help texts, and each command's body is a few lines calling the library, so splitting it would
spread the command line's one vocabulary over several files. Formatting lives beside what it
formats (``Route.explain``, ``evaluate.format_report``, ``data.format_summary``).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from . import evaluate as ev
from ._version import __version__
from .bundle import save_bundle
from .config import build_cascade, default_cascade
from .data import (
    LLM_MIN_CONFIDENCE,
    GeneratorConfig,
    format_summary,
    load_templates,
    merge_templates,
    read_extra,
    read_jsonl,
    write_dataset,
)
from .data import generate as run_generate
from .domains import DEFAULT_DOMAIN, domain_file_or_path, domain_path, load_domain
from .env import SERVE_CONFIG, env_set
from .errors import ConfigError, IntentRouteError
from .lexical import lexical_missing_reason
from .loop import read_review, read_traffic, review_rows, summary_lines, traffic_view, write_review
from .plugins import get_plugin_manager, layer_registry
from .ray import route_path
from .stream import FORMATS, ON_ERROR, format_of, route_file
from .train import preset_epochs
from .train import train as run_train
from .tune import fit_policies, parse_target, save_policies

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn intentroute's own errors into a one-line message and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IntentRouteError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Cascade config (.toml or .json). Default: the embedded brokerage cascade.",
)


def _extra_options(split: str) -> Callable[[F], F]:
    """``--extra`` and ``--extra-weight``, for a command whose training split is ``split``."""
    extra = click.option(
        "--extra",
        "extra_files",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        multiple=True,
        help=f"JSONL of labelled examples ({{'text', 'intent'}}) added to {split}: intentroute review's "
        "accepted rows, the LLM layer's verdict log, real labelled messages (never one in the validation or "
        "test split, never an abstention). May be repeated.",
    )
    weight = click.option(
        "--extra-weight",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="How many times each --extra example is added: a reviewed real phrasing can count more than one "
        "generated from a template.",
    )
    return lambda fn: extra(weight(fn))


def _read_extra(files: tuple[Path, ...]) -> list[tuple[str, str]]:
    """--extra's labelled examples; what was left out of the files is said on stderr."""
    extra, report = read_extra(files)
    left = {k: v for k, v in report.items() if k != "rows" and v}
    if left:
        names = {
            "not_accepted": "not accepted in review",
            "abstained": "abstentions or the fallback",
            "restricted": "answers to restricted questions",
            "low_confidence": f"verdicts below confidence {LLM_MIN_CONFIDENCE:g}",
        }
        said = ", ".join(f"{v} {names[k]}" for k, v in left.items())
        click.echo(f"--extra: {len(extra)} of {report['rows']} rows are labels ({said} left out)", err=True)
    return extra


def _cascade(config_path: Path | None) -> Any:

    if config_path is None:
        return default_cascade()
    if not config_path.exists():
        raise click.BadParameter(f"file {str(config_path)!r} does not exist", param_hint="--config")
    return build_cascade(config_path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="intentroute")
def cli() -> None:
    """Route chat utterances to intents with a cascade of rules, a classifier and an LLM."""


@cli.command()
@click.argument("texts", nargs=-1)
@_config_option
@click.option("--explain", is_flag=True, help="Print the decision and every layer's trace step.")
@click.option("--json", "as_json", is_flag=True, help="Print Route.to_dict() as one JSON line per text.")
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Route every record of this file (JSONL, CSV, Parquet), streamed in chunks; needs --output.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(path_type=Path),
    help="Where --input's records go, with intent, confidence, layer, extracted and missing added.",
)
@click.option("--text-column", default="text", show_default=True, help="The column holding the utterance.")
@click.option("--input-format", type=click.Choice(FORMATS), help="Default: from --input's suffix.")
@click.option("--output-format", type=click.Choice(FORMATS), help="Default: from --output's suffix.")
@click.option(
    "--on-error",
    type=click.Choice(ON_ERROR),
    default="stop",
    show_default=True,
    help="A malformed record: stop the run (nothing written) or skip it (counted in the summary).",
)
@click.option("--trace", is_flag=True, help="Add each route's trace to the output.")
@click.option("--prefix", default="", help="Prefix of the route's column names (when the input has an 'intent' ...).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2048, show_default=True)
@click.option("--force", is_flag=True, help="Replace --output if it exists.")
@click.option("--progress/--no-progress", default=None, help="A progress bar (default: when stderr is a terminal).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: read --input (a file, folder or URI) with Ray Data and write --output as a folder.",
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Ray workers.")
@_friendly
def route(
    texts: tuple[str, ...],
    config_path: Path | None,
    explain: bool,
    as_json: bool,
    input_path: Path | None,
    output_path: Path | None,
    text_column: str,
    input_format: str | None,
    output_format: str | None,
    on_error: str,
    trace: bool,
    prefix: str,
    chunk_size: int,
    force: bool,
    progress: bool | None,
    engine: str,
    workers: int,
) -> None:
    """Route TEXTS (or, with none or '-', one utterance per line of standard input), or every
    record of a file (--input FILE --output FILE)."""
    if input_path is not None or output_path is not None:
        if input_path is None or output_path is None:
            raise click.UsageError("--input and --output go together")
        if texts or explain or as_json:
            raise click.UsageError("--input routes a file: no TEXTS, --explain or --json with it")
        if engine == "ray":
            _route_on_ray(
                str(input_path),
                str(output_path),
                input_format,
                output_format,
                text_column=text_column,
                config=config_path,
                workers=workers,
                chunk_size=chunk_size,
                prefix=prefix,
                trace=trace,
            )
            return
        if output_path.is_dir():
            raise click.UsageError(f"{output_path} is a folder; --output names a file (a folder with --engine ray)")
        if output_path.exists() and not force:
            raise click.UsageError(f"{output_path} exists; pass --force to replace it")
        cascade = _cascade(config_path)
        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(unit=" utterances", unit_scale=True, disable=not show, file=sys.stderr) as bar:
            summary = route_file(
                input_path,
                output_path,
                cascade,
                text_column=text_column,
                input_format=input_format,
                output_format=output_format,
                chunk_size=chunk_size,
                on_error=on_error,
                trace=trace,
                prefix=prefix,
                overwrite=force,
                progress=bar.update,
            )
        click.echo(summary.format(), err=True)
        return
    if explain and as_json:
        raise click.UsageError("--explain and --json are exclusive: pick one")
    items = list(texts)
    if not items or items == ["-"]:
        items = [line.rstrip("\n") for line in sys.stdin]
    cascade = _cascade(config_path)
    for text, r in zip(items, cascade.route_batch(items), strict=True):
        if as_json:
            click.echo(json.dumps(r.to_dict(), ensure_ascii=False))
        elif explain:
            click.echo(f"> {text}")
            click.echo(r.explain())
            click.echo()
        else:
            params = " ".join(f"{k}={v}" for k, v in r.extracted.items() if not isinstance(v, list))
            missing = f" missing={','.join(r.missing_params)}" if r.missing_params else ""
            click.echo(f"{r.intent}\t{r.confidence:.3f}\t{r.layer}\t{params}{missing}".rstrip())


def _route_on_ray(
    source: str,
    target: str,
    input_format: str | None,
    output_format: str | None,
    *,
    text_column: str,
    config: Path | None,
    workers: int,
    chunk_size: int,
    prefix: str,
    trace: bool,
) -> None:
    if Path(target).exists() and (not Path(target).is_dir() or any(Path(target).iterdir())):
        raise click.UsageError(f"{target} exists and is not an empty folder; Ray writes its files into a new folder")
    fmt_in = input_format or format_of(Path(source.rstrip("/")))
    fmt_out = output_format or "parquet"
    count = route_path(
        source,
        target,
        input_format=fmt_in,
        output_format=fmt_out,
        text_column=text_column,
        config=config,
        concurrency=workers,
        batch_size=chunk_size,
        prefix=prefix,
        trace=trace,
    )
    click.echo(f"routed {count:,} rows with Ray Data into {target} ({fmt_out} files)", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_friendly
def layers(as_json: bool) -> None:
    """List every registered layer, the plugin it came from and whether it can run here."""

    rows = []
    for plugin, (source, why) in get_plugin_manager().broken.items():
        rows.append(
            {"name": "-", "plugin": plugin, "source": source, "available": False, "reason": f"failed to load: {why}"}
        )
    for info in layer_registry().values():
        reason = info.availability()
        rows.append(
            {
                "name": info.name,
                "plugin": info.plugin,
                "source": info.source,
                "available": reason is None,
                "reason": reason or "",
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cols = ("name", "plugin", "source")
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in cols}
    click.echo("  ".join(k.upper().ljust(widths[k]) for k in cols) + "  AVAILABLE")
    for r in rows:
        avail = "yes" if r["available"] else f"no: {r['reason']}"
        click.echo("  ".join(str(r[k]).ljust(widths[k]) for k in cols) + f"  {avail}")


@cli.command()
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_friendly
def status(config_path: Path | None, as_json: bool) -> None:
    """Show the cascade's layers, their policies and their diagnostics."""
    cascade = _cascade(config_path)
    report = cascade.status()
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo(f"fallback: {cascade.fallback}")
    for i, entry in enumerate(report["layers"], 1):
        p = entry["policy"]
        click.echo(f"{i}. {entry['name']}  threshold={p['threshold']:g} margin={p['margin']:g} force={p['force']}")
        for k, v in entry["status"].items():
            click.echo(f"     {k}: {v}")


@cli.command()
@click.option(
    "--templates",
    "templates_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Template file (the legacy pipeline's JSON format). Default: the embedded brokerage templates.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for intent_{train,val,test}.jsonl and dataset_summary.json.",
)
@click.option(
    "--size",
    type=click.IntRange(min=1),
    default=None,
    help="Number of examples [default: INTENT_DATASET_SIZE or 25000].",
)
@click.option(
    "--max-combos",
    type=click.IntRange(min=1),
    default=None,
    help="Slot combinations drawn per template [default: INTENT_MAX_COMBOS or 200].",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; the same seed gives the same files.")
@click.option(
    "--split",
    type=click.Choice(["random", "template"]),
    default="random",
    show_default=True,
    help="random: examples shuffled 80/10/10 (the legacy pipeline's); template: whole templates held out of training.",
)
@click.option(
    "--affix-rate",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Share of examples given a random prefix and suffix.",
)
@click.option(
    "--noise-rate",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="Share of examples given one typing error.",
)
@_extra_options("the training split")
@click.option(
    "--background",
    "background",
    default=None,
    help="Templates of a background class ('none': out-of-domain requests the classifier should learn to "
    "reject), merged into --templates: a file, or a domain name for its background.json.",
)
@click.option(
    "--fragments",
    is_flag=True,
    help="Add the opening words the domain's requests share ('what', 'how much', 'what is my') to the "
    "training split as the background class 'none' (needs --background, or --templates with a 'none' intent).",
)
@click.option("--force", is_flag=True, help="Replace dataset files already in --out.")
@_friendly
def generate(
    background: str | None,
    fragments: bool,
    templates_path: Path | None,
    extra_files: tuple[Path, ...],
    extra_weight: int,
    out_dir: Path,
    size: int | None,
    max_combos: int | None,
    seed: int,
    split: str,
    affix_rate: float,
    noise_rate: float,
    force: bool,
) -> None:
    """Generate a synthetic training set from templates."""

    if templates_path is not None and not templates_path.exists():
        raise click.BadParameter(f"file {str(templates_path)!r} does not exist", param_hint="--templates")
    templates = load_templates(templates_path or domain_path(DEFAULT_DOMAIN, "templates.json"))
    if background is not None:
        bg_path = domain_file_or_path(background, "background.json")
        if not bg_path.exists():
            raise click.BadParameter(f"{str(bg_path)!r} does not exist", param_hint="--background")
        templates = merge_templates(templates, load_templates(bg_path))
    if fragments and "none" not in templates.intents:  # GeneratorConfig's background class
        raise click.BadParameter(
            "fragments are examples of the background class 'none', which the templates do not have: "
            "pass --background (or --templates with a 'none' intent)",
            param_hint="--fragments",
        )
    kwargs: dict[str, Any] = {
        "seed": seed,
        "split": split,
        "affix_rate": affix_rate,
        "noise_rate": noise_rate,
        "fragments": fragments,
    }
    if size is not None:
        kwargs["size"] = size
    if max_combos is not None:
        kwargs["max_combos"] = max_combos
    config = GeneratorConfig(**kwargs)
    with tqdm(
        total=len(templates.intents),
        desc="intents",
        unit="intent",
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    ) as bar:
        extra = _read_extra(extra_files)
        dataset = run_generate(
            templates, config, progress=lambda _: bar.update(), extra=extra, extra_weight=extra_weight
        )
    written = write_dataset(dataset, out_dir, overwrite=force)
    click.echo(format_summary(dataset.summary))
    click.echo("wrote " + ", ".join(str(p) for p in written))


@cli.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Folder with intent_train.jsonl (and intent_val.jsonl, intent_test.jsonl).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Bundle folder to write.",
)
@click.option(
    "--preset",
    type=click.Choice(["default", "linear", "mlp", "legacy"]),
    default="default",
    show_default=True,
    help="default: a linear model and a 128-unit hidden-layer model, their logits summed (intentroute's "
    "measured default); linear: the linear model alone (half the training time; the embedded "
    "model's); mlp: a 512-unit hidden layer, the most accurate single model (7-10 times "
    "slower to train); legacy: the legacy pipeline's features and model exactly. --epochs, --lr, "
    "--batch-size, --weight-decay, --input-dropout and --seed set both models of the default.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the preset's epochs.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Override the learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the batch size.")
@click.option(
    "--weight-decay",
    type=click.FloatRange(min=0),
    default=None,
    help="Override the preset's L2 weight decay.",
)
@click.option(
    "--input-dropout",
    type=click.FloatRange(min=0, max=0.95),
    default=None,
    help="Share of each training example's features dropped at random in each step (0: none, the presets').",
)
@click.option("--seed", "random_state", type=int, default=None, help="Override the random seed (7).")
@click.option(
    "--slots",
    "slots_domain",
    default=None,
    help="A domain (embedded name or folder) whose slots (symbol, account, ...) become features: a marker "
    "token per slot its extractor finds in an utterance. The brokerage bundle is trained with them.",
)
@_extra_options("--data's training split")
@click.option(
    "--lexical",
    is_flag=True,
    help="Also train a head on a pretrained 256-d token table's vectors (wordllama's, the [lexical] extra), "
    "added to the classifier's logits: knowledge of words no template has. The bundle then needs the extra "
    "to load.",
)
@click.option("--force", is_flag=True, help="Replace an existing bundle at --out.")
@_friendly
def train(
    data_dir: Path,
    out_dir: Path,
    preset: str,
    epochs: int | None,
    lr: float | None,
    batch_size: int | None,
    weight_decay: float | None,
    input_dropout: float | None,
    random_state: int | None,
    slots_domain: str | None,
    extra_files: tuple[Path, ...],
    extra_weight: int,
    lexical: bool,
    force: bool,
) -> None:
    """Train the BoW classifier and write a bundle."""

    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise click.UsageError(f"{out_dir} already holds files; pass --force to replace the bundle there")
    if lexical and (reason := lexical_missing_reason()) is not None:
        raise click.BadParameter(reason, param_hint="--lexical")
    overrides = {
        k: v
        for k, v in {
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "weight_decay": weight_decay,
            "input_dropout": input_dropout,
            "random_state": random_state,
        }.items()
        if v is not None
    }
    slots = None
    if slots_domain is not None:
        try:
            slots = load_domain(slots_domain).slots
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--slots") from exc
        if not slots:
            raise click.BadParameter(f"domain {slots_domain!r} defines no slots", param_hint="--slots")
    epochs_of = preset_epochs(preset, overrides)
    tty = sys.stderr.isatty()
    total = sum(epochs_of.values())
    with tqdm(total=total, desc="epochs", unit="epoch", disable=not tty, file=sys.stderr, leave=False) as bar:

        def report(record: dict[str, Any]) -> None:
            model = record.get("model", "")
            line = f"Epoch {record['epoch']}/{epochs_of[model]} - loss {record['loss']:.3f}"  # the legacy line
            if "val_accuracy" in record:
                line += f" - val_acc {record['val_accuracy']:.3f}"
            if model:  # which of the default preset's two models
                line += f" ({model})"
            (bar.write if tty else click.echo)(line)
            bar.update()

        extra = _read_extra(extra_files)
        result = run_train(
            data_dir,
            preset,
            overrides=overrides,
            epoch_callback=report,
            slots=slots,
            extra=extra,
            extra_weight=extra_weight,
            lexical=lexical,
        )
    m = result.metrics
    if "extra" in result.training:
        e = result.training["extra"]
        click.echo(
            f"extra examples: {e['added']} of {e['given']} added"
            + (f", each {e['weight']} times" if e["weight"] > 1 else "")
            + f" ({e['duplicates']} duplicates, {e['held_out']} in the validation or test split, "
            f"{e['unknown_intent']} with intents the training split lacks skipped)"
        )
    if "test_accuracy" in m:
        click.echo(f"Test accuracy: {m['test_accuracy']:.3f}")
    if "test_accuracy_without_lexical" in m:
        click.echo(f"Test accuracy without the lexical head: {m['test_accuracy_without_lexical']:.3f}")
    extras = [f"trained in {m['train_seconds']:.2f}s on {m['train_examples']} examples"]
    if "val_ece" in m:
        extras.append(
            f"val ECE {m['val_ece']:.3f}"
            + (
                f" (before calibration {m['val_ece_before_calibration']:.3f})"
                if "val_ece_before_calibration" in m
                else ""
            )
        )
    extras.append(f"temperature {result.classifier.temperature_:.3f}")
    click.echo(", ".join(extras))
    # wall-clock time stays out of the bundle, so the same data and seed give the same bytes
    saved_metrics = {k: v for k, v in m.items() if k != "train_seconds"}
    save_bundle(
        out_dir,
        result.vectorizer,
        result.classifier,
        training=result.training,
        metrics=saved_metrics,
        hyperparameters=result.hyperparameters,
        lexical=result.lexical,
    )
    click.echo(f"Saved artifacts to {out_dir}")


@cli.command()
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Labelled JSONL file ({'text', 'intent'} per line).",
)
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Bundle folder to evaluate. Default: the embedded brokerage bundle.",
)
@click.option("--cascade", "use_cascade", is_flag=True, help="Evaluate the whole cascade (default, or --config).")
@_config_option
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write report.json, report.md and PNG plots here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_friendly
def evaluate(
    data_file: Path,
    bundle_dir: Path | None,
    use_cascade: bool,
    config_path: Path | None,
    report_dir: Path | None,
    as_json: bool,
) -> None:
    """Evaluate a bundle (or a cascade) on labelled data."""

    texts, labels, groups = ev.read_examples(data_file)  # groups: template_id, for the errors by template
    if use_cascade or config_path is not None:
        if bundle_dir is not None:
            raise click.UsageError("--bundle evaluates a bundle; --cascade/--config evaluate a cascade: pick one")
        report = ev.evaluate_cascade(_cascade(config_path), texts, labels, groups=groups)
    else:
        report = ev.evaluate_bundle(bundle_dir or domain_path(DEFAULT_DOMAIN, "bundle"), texts, labels, groups=groups)
    report["data"] = str(data_file)
    if report_dir is not None:
        ev.write_report(report, report_dir)
    click.echo(json.dumps(report, indent=2) if as_json else ev.format_report(report))


def _target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--target checked before anything runs: a bad one is a usage error (exit 2)."""
    try:
        parse_target(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@cli.command()
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Labelled validation JSONL; out-of-scope examples labelled 'oos' (or 'clarify').",
)
@_config_option
@click.option(
    "--target",
    default="accuracy",
    show_default=True,
    callback=_target,
    help="'accuracy' (rejections count as errors), 'precision:P' (most coverage at precision >= P) or "
    "'oos_recall:R' (most in-scope texts answered correctly while >= R of the out-of-scope ones go to clarify).",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=None,
    help="Count a precision or recall level as reached only when its Clopper-Pearson lower bound is, "
    "at this confidence (e.g. 0.95): for small validation sets.",
)
@click.option(
    "--layer",
    "layers",
    multiple=True,
    help="Fit only this layer's policy (repeatable); the others keep their configured policies.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Write the fitted policies here (TOML; use it as `policies = "..."` in a cascade config).',
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_friendly
def tune(
    data_file: Path,
    config_path: Path | None,
    target: str,
    confidence: float | None,
    layers: tuple[str, ...],
    out_file: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Fit each layer's threshold and margin on labelled data."""

    if out_file is not None and out_file.exists() and not force:
        raise click.UsageError(f"{out_file} exists; pass --force to replace it")
    cascade = _cascade(config_path)
    unknown = sorted(set(layers) - set(cascade.layer_names))
    if unknown:
        raise click.BadParameter(
            f"no layer {', '.join(map(repr, unknown))} in the cascade (its layers: {', '.join(cascade.layer_names)})",
            param_hint="--layer",
        )
    texts, labels = read_jsonl(data_file)
    result = fit_policies(cascade, texts, labels, target=target, confidence=confidence, layers=list(layers) or None)
    if out_file is not None:
        save_policies(out_file, result, note=f" from {data_file.name}")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"target {result.goal} on {result.examples} examples")
    for name, pol in result.policies.items():
        kept = "" if name in result.fitted else " (kept)"
        click.echo(f"  {name}: threshold {pol.threshold:g}, margin {pol.margin:g}{kept}")
    oos = f", out-of-scope recall {result.oos_recall}" if result.oos_recall is not None else ""
    click.echo(f"accuracy {result.accuracy}, coverage {result.coverage}, precision {result.precision}{oos}")
    if result.in_scope_correct is not None and result.oos_recall is not None:
        click.echo(f"in-scope texts answered correctly {result.in_scope_correct}")
    if not result.target_met:
        measure = "out-of-scope recall" if result.target.startswith("oos_recall") else "precision"
        click.echo(f"warning: no policy reaches {result.goal}; these give the highest {measure} found", err=True)
    if out_file is not None:
        click.echo(f"wrote {out_file}")


@cli.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The review file (JSONL). If it exists, its rows are kept and a reviewer's decisions in it stand: "
    "reviewing the same logs again changes nothing.",
)
@_config_option
@click.option(
    "--layer",
    "layer_name",
    default="torch_bow",
    show_default=True,
    help="The cascade's classifier layer, whose answer each row shows.",
)
@click.option("--llm-layer", default="llm", show_default=True, help="The name routed records give the LLM layer.")
@click.option(
    "--accept-all",
    is_flag=True,
    help="Accept every pending row whose LLM confidence is at least --min-confidence (an unattended loop).",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=LLM_MIN_CONFIDENCE,
    show_default=True,
    help="--accept-all leaves rows below this LLM confidence pending (the LLM layer's default threshold).",
)
@click.option("--text-field", default="text", show_default=True, help="The records' text field.")
@click.option("--prefix", default="", help="The prefix of routed records' columns (route --prefix).")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="Unknown words listed.")
@click.option("--json", "as_json", is_flag=True, help="Print the traffic view as JSON.")
@_friendly
def review(
    logs: tuple[Path, ...],
    out_file: Path,
    config_path: Path | None,
    layer_name: str,
    llm_layer: str,
    accept_all: bool,
    min_confidence: float,
    text_field: str,
    prefix: str,
    top: int,
    as_json: bool,
) -> None:
    """Turn what the LLM answered into training data: read LLM verdict logs (INTENTROUTE_LLM_LOG) or
    routed records (route --output), write one row per text the LLM labelled, with its label and
    confidence and the classifier's answer, disagreements and low confidence first, for review
    (set "review" to "accepted" or "rejected"; fix "intent" if wrong); then train --extra OUT.
    Abstentions and answers to restricted questions never become rows. Also prints the traffic's
    share per deciding layer and the escalated utterances' words the classifier has no feature for."""

    cascade = _cascade(config_path)
    layers = [layer for layer in cascade.layers if layer.name == layer_name]
    if not layers or not hasattr(layers[0], "route_batch"):
        raise click.BadParameter(
            f"no layer {layer_name!r} in the cascade (its layers: {', '.join(cascade.layer_names)})",
            param_hint="--layer",
        )
    classifier = layers[0]
    model = getattr(classifier, "scorer", None)
    intents = cascade.labels if cascade.labels is not None else getattr(model, "labels", None)
    traffic = read_traffic(logs, intents=intents, llm_layer=llm_layer, text_field=text_field, prefix=prefix)
    existing = read_review(out_file) if out_file.exists() else []
    rows = review_rows(traffic, classifier, existing=existing, accept_all=accept_all, min_confidence=min_confidence)
    write_review(rows, out_file)
    view = traffic_view(traffic, model, top=top)
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        click.echo("\n".join(summary_lines(view, rows)))
    click.echo(f"wrote {out_file}", err=as_json)


@cli.command()
@_config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@_friendly
def serve(config_path: Path | None, host: str, port: int, workers: int) -> None:
    """Serve the cascade over HTTP (POST /route, /route/batch, /reload; GET /status, /healthz;
    the schemas at /docs). Needs the [serve] extra."""
    try:
        import uvicorn
    except ImportError as exc:
        hint = "intentroute serve needs FastAPI and uvicorn: pip install 'intentroute[serve]'"
        raise click.ClickException(hint) from exc
    if config_path is not None:
        if not config_path.is_file():
            raise click.BadParameter(f"file {str(config_path)!r} does not exist", param_hint="--config")
        env_set(SERVE_CONFIG, str(config_path.resolve()))  # (each worker builds the cascade from it)
    uvicorn.run(
        "intentroute.serve:app_from_environment", factory=True, host=host, port=port, workers=workers, log_level="info"
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="intentroute")
