"""The package's one version: a leaf that imports nothing, read by the package face (`latentlens.__version__`),
the build (recorded with every run and artifact) and hatchling (pyproject.toml's `[tool.hatch.version]`)."""

__version__ = "0.1.0"
