from django.urls import path

from . import views, views_auth

app_name = "accounts"
urlpatterns = [
    path("login/", views_auth.login_view, name="login"),
    path("logout/", views_auth.logout_view, name="logout"),
    path("users/", views.user_list, name="user_list"),
    path("memberships/", views.membership_list, name="membership_list"),
]
