"""HTTP routes, one module per resource. A route parses, calls one use case, answers."""
