"""The package's shape, kept as the newcomer found it: packages by audience, small modules, no blueprint
reaching into another, no module that only re-exports."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "consent"
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts)


def module_name(path):
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(path):
    """Every consent module `path` imports, by name: `from consent.x import y` counts for consent.x.y if that
    is a module, else for consent.x."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("consent"):
            for alias in node.names:
                names.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in BY_NAME else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("consent"))
    return names


BY_NAME = {module_name(path): path for path in MODULES}


def test_few_top_level_modules_and_packages_by_audience():
    top_level = [path.name for path in PACKAGE.glob("*.py")]
    packages = [path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()]
    assert len(top_level) <= 12, top_level
    assert len(packages) >= 5, packages


def test_no_module_outside_migrations_is_over_400_lines():
    long = {module_name(path): n for path in MODULES if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_no_blueprint_imports_another():
    blueprints = {name for name, path in BY_NAME.items() if "Blueprint(" in path.read_text(encoding="utf-8")}
    assert len(blueprints) >= 7, blueprints  # visitor api and pages, site api, admin, proof, audit api and console
    crossing = {name: sorted(imported_modules(BY_NAME[name]) & (blueprints - {name})) for name in blueprints}
    assert {name: others for name, others in crossing.items() if others} == {}


def test_no_module_only_re_exports():
    """A module whose whole body is imports (docstring aside) is a shim pointing elsewhere."""
    shims = []
    for path in MODULES:
        body = [node for node in ast.parse(path.read_text(encoding="utf-8")).body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        if body and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body):
            shims.append(module_name(path))
    assert shims == []
