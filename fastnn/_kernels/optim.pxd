from fastnn._kernels._ckernels cimport fnn_rule

# an optimizer rule given as a dict (optim.RULE_DEFAULTS), checked, in its C form
cdef fnn_rule make_rule(dict rule) except *
