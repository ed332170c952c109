"""Built-in layers. Each module registers its layer through the ``register_layers`` hook."""
