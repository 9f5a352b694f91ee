"""Warning categories of fairlearn-divine."""


class ApproximationWarning(UserWarning):
    """An approximation is used outside the regime where it is reliable.

    Raised, for example, when the fitted model is not at an optimum of its training objective
    (influence functions assume it is), when the Hessian is singular or ill-conditioned, or when
    a leave-one-out Newton step meets a point of leverage close to one.
    """
