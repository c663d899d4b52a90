from jiedao.accounts.access import roles_of
from jiedao.accounts.roles import Role

from .navigation import items_for


def navigation(request):
    """The navigation and the top bar's roles, from the grants the access layer caches."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    held = roles_of(user)
    return {
        "nav_items": items_for(user),
        "my_roles": [role.label for role in Role if role.value in held],
    }
