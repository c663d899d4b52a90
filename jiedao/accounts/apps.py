from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "jiedao.accounts"
    label = "accounts"
