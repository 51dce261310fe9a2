"""Shared test constants that are not fixtures."""

# Characters seen in real PAL-XFEL names and some that are not: spaces, Korean, dots,
# underscores, punctuation. Never "/" or NUL, which no directory name can hold.
NAME_CHARS = "abcXYZ019 _-.,+()[]#@빔정렬실험"
