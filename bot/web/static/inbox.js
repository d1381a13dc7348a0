// Progressive enhancement of the coordinator inbox. Every page works without this file:
// it only refreshes the list, keeps the transcript scrolled to the latest message, submits
// the sort choice at once, sends a reply with Ctrl+Enter and prevents double submits.
(function () {
  "use strict";

  var REFRESH_HEADER = "X-Inbox-Refresh";

  function refreshList(list) {
    var seconds = parseInt(list.getAttribute("data-refresh-seconds"), 10) || 30;
    var busy = false;

    function swap(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("conversation-list");
      var tabs = doc.getElementById("list-tabs");
      if (fresh && fresh.innerHTML !== list.innerHTML) {
        list.innerHTML = fresh.innerHTML;
      }
      var currentTabs = document.getElementById("list-tabs");
      if (tabs && currentTabs && tabs.innerHTML !== currentTabs.innerHTML) {
        currentTabs.innerHTML = tabs.innerHTML;
      }
    }

    function tick() {
      // Never pull the rug from under the keyboard: skip while focus is inside the list.
      if (busy || document.hidden || list.contains(document.activeElement)) {
        return;
      }
      busy = true;
      var headers = {};
      headers[REFRESH_HEADER] = "1";
      fetch(window.location.href, { credentials: "same-origin", headers: headers })
        .then(function (response) {
          if (response.redirected || !response.ok) {
            return null;
          }
          return response.text();
        })
        .then(function (html) {
          if (html) {
            swap(html);
          }
        })
        .catch(function () { /* offline for a moment: try again at the next tick */ })
        .then(function () { busy = false; });
    }

    window.setInterval(tick, seconds * 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        tick();
      }
    });
  }

  function scrollTranscript(transcript) {
    var marker = document.getElementById("new-messages");
    if (marker) {
      transcript.scrollTop = Math.max(0, marker.offsetTop - transcript.offsetTop - 8);
    } else {
      transcript.scrollTop = transcript.scrollHeight;
    }
  }

  function submitOnce(form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-submitted") === "true") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitted", "true");
      var buttons = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].setAttribute("aria-disabled", "true");
        buttons[i].disabled = true;
      }
    });
  }

  function sendWithShortcut(textarea) {
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (textarea.form.requestSubmit) {
          textarea.form.requestSubmit();
        } else {
          textarea.form.submit();
        }
      }
    });
  }

  function autoSubmit(select) {
    var form = select.form;
    var apply = form.querySelector(".js-hide-when-auto");
    if (apply) {
      apply.hidden = true;
    }
    select.addEventListener("change", function () {
      form.submit();
    });
  }

  // Coming back with the browser's Back button must not leave the forms disabled.
  window.addEventListener("pageshow", function () {
    var sent = document.querySelectorAll("form[data-submitted=true]");
    for (var i = 0; i < sent.length; i++) {
      sent[i].removeAttribute("data-submitted");
      var buttons = sent[i].querySelectorAll("button[type=submit]");
      for (var k = 0; k < buttons.length; k++) {
        buttons[k].disabled = false;
        buttons[k].removeAttribute("aria-disabled");
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("conversation-list");
    if (list) {
      refreshList(list);
    }
    var transcript = document.getElementById("transcript");
    if (transcript) {
      scrollTranscript(transcript);
    }
    var forms = document.querySelectorAll("form.js-once");
    for (var i = 0; i < forms.length; i++) {
      submitOnce(forms[i]);
    }
    var reply = document.getElementById("reply-text");
    if (reply) {
      sendWithShortcut(reply);
    }
    var selects = document.querySelectorAll("select.js-autosubmit");
    for (var j = 0; j < selects.length; j++) {
      autoSubmit(selects[j]);
    }
  });
})();
