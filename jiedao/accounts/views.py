from django.http import HttpResponse


def user_list(request):
    return HttpResponse("todo")


def membership_list(request):
    return HttpResponse("todo")
