"""The task question-answering: extractive, SQuAD-style."""

from .recipe import QuestionAnsweringRecipe

__all__ = ["QuestionAnsweringRecipe"]
