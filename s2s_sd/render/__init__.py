"""Renderers: model -> {relative path: text}. Pure and deterministic."""
