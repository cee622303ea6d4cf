// Pages that show running runs carry data-live="SECONDS" on <body>: reload them that often, so
// that running bars grow and finished runs get their outcome.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-live"));
  if (seconds > 0) {
    window.setTimeout(function () {
      window.location.reload();
    }, seconds * 1000);
  }
})();
