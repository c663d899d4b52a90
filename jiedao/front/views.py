from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "front/home.html", {})


def org_tree(request):
    return HttpResponse("todo")
