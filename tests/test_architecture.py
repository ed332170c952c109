"""The package's shape holds: imports run one way, no cycles, no reaching into private names.

docs/architecture.md draws the layers these tests and ``make lint`` enforce (the import-linter
contracts in pyproject.toml).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

import intentroute

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(intentroute.__file__).parent
#: optional or heavy dependencies a module may import inside a function, only when it needs them:
#: torch (training), openai (the LLM layer), matplotlib (report plots), and scikit-learn in the two
#: places serving must not pay for it: a hashing featurizer's murmurhash, and a bundle handing its
#: model back as scikit-learn estimators (``bundle.py``'s ``..estimators``)
LAZY_IMPORTS = {"torch", "openai", "matplotlib", "safetensors", "sklearn", "pyarrow", "ray"}
LAZY_IMPORTS |= {"fastapi", "pydantic", "uvicorn"}  # (the [serve] extra)
LAZY_IMPORTS |= {"tokenizers"}  # (the [lexical] extra)
LAZY_IMPORTS |= {"asyncio"}  # (the async paths: 50 ms and 3 MB a process routing synchronously never needs)
LAZY_RELATIVE = {("bundle.py", ".estimators")}


def test_the_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_no_module_of_the_package_imports_itself_back() -> None:
    graph = grimp.build_graph("intentroute", include_external_packages=False)
    modules = sorted(graph.modules)
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != "intentroute" and graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    # a package's __init__ re-exporting its own modules is not a cycle of behaviour
    cycles = [(a, b) for a, b in cycles if not (b.startswith(a + ".") or a.startswith(b + "."))]
    assert cycles == []


def _python_files() -> list[Path]:
    return [p for d in ("intentroute", "tests", "benchmarks", "examples") for p in sorted((ROOT / d).rglob("*.py"))]


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_module(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def test_no_private_name_is_imported_from_outside_its_package() -> None:
    offences = []
    for path in _python_files():
        importer = _module_of(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _imported_module(node, importer, path.name == "__init__.py")
            if not source.startswith("intentroute"):
                continue
            package = source.rsplit(".", 1)[0] if "." in source else source
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and not importer.startswith(package + "."):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {source}.{alias.name}")
    assert offences == []


def test_imports_inside_functions_are_only_for_optional_heavy_dependencies() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                bad = [n for n in names if n.split(".")[0] not in LAZY_IMPORTS and (path.name, n) not in LAZY_RELATIVE]
                if bad:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {bad} inside {func.name}()")
    assert offences == []


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(intentroute.__all__) == sorted(
        [
            "CLARIFY",
            "BundleError",
            "Candidate",
            "Cascade",
            "ConfigError",
            "Extractor",
            "IntentRouteError",
            "LayerResult",
            "LayerUnavailable",
            "PluginError",
            "Policy",
            "Route",
            "RouterLayer",
            "TemplateError",
            "TraceStep",
            "__version__",
            "build_cascade",
            "default_cascade",
            "hookimpl",
        ]
    )
    for name in intentroute.__all__:
        assert getattr(intentroute, name) is not None, name


def test_importing_the_package_imports_neither_torch_nor_scikit_learn_nor_openai() -> None:
    code = "import sys, intentroute; print(sorted(m for m in ('torch', 'sklearn', 'openai') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_routing_with_the_default_cascade_imports_neither_torch_nor_scikit_learn() -> None:
    # serving stays lean: a bundle loads and scores with NumPy, SciPy and safetensors
    code = (
        "import sys, intentroute; route = intentroute.default_cascade().route('how did my roth do'); "
        "print(route.layer, sorted(m for m in ('torch', 'sklearn', 'openai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "torch_bow []"


def test_a_module_over_400_lines_says_why_in_its_docstring() -> None:
    # small modules with one job; a longer one states its size and the reason in its docstring
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > 400 and "lines" not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert unexplained == []


def test_only_intentroute_env_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "env.py" and ("os.environ" in (text := path.read_text(encoding="utf-8")) or "getenv" in text)
    ]
    assert readers == []
