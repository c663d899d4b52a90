from django.urls import path

from . import views, views_auth

app_name = "accounts"
urlpatterns = [
    path("login/", views_auth.login_view, name="login"),
    path("logout/", views_auth.logout_view, name="logout"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("users/<int:pk>/unlock/", views.user_unlock, name="user_unlock"),
    path("users/<int:pk>/active/", views.user_set_active, name="user_set_active"),
    path("users/<int:pk>/password/", views.user_password, name="user_password"),
    path("memberships/", views.membership_list, name="membership_list"),
    path("memberships/grant/", views.membership_grant, name="membership_grant"),
    path("memberships/<int:pk>/revoke/", views.membership_revoke, name="membership_revoke"),
]
