// The "download annotated .docx" button submits the form natively (the answer is a file), so
// htmx must not take that submission; the "check" button goes through htmx and keeps the
// chosen file selected, ready for the download afterwards.
document.addEventListener("submit", function (event) {
  var submitter = event.submitter;
  if (submitter && submitter.value === "docx" && event.target.id === "check-form") {
    event.stopPropagation();
  }
}, true);

// After a check, bring the results into view (the pasted text above may be long).
document.addEventListener("htmx:afterSwap", function (event) {
  var results = document.getElementById("check-results");
  if (results && event.detail.target && event.detail.target.id === "check-results") {
    results.scrollIntoView({behavior: "smooth", block: "start"});
  }
});
