"""LUME models as they are: lume-base ``LUMEModel`` simulators and lume-torch surrogates.

The only package that imports the LUME libraries (lazily, where used). ``spec`` makes a
``ModelSpec`` from a model's variables, ``evaluate`` calls a model honestly (one point or a
batch), ``entry`` gives a registered LUME model the entrypoint every loader understands.
Register one with ``register_model_version("model.yml", source, name=..., version=...)``.
"""

from lume_prefect.core.lazy import lazy_names

_LAZY = {
    "spec_from_model": "lume_prefect.lume.spec",
    "variable_from_lume": "lume_prefect.lume.spec",
    "model_function": "lume_prefect.lume.evaluate",
    "LumeEntry": "lume_prefect.lume.entry",
    "lume_instance": "lume_prefect.lume.entry",
    "lume_registration": "lume_prefect.lume.entry",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = list(_LAZY)
