//! Segment FQL triggers: lexing, parsing and evaluation.
