// rlhf4j feedback: the keyboard and the little interactivity of the pages. Loaded by every page; no inline
// scripts (the Content-Security-Policy forbids them). Each part looks for its elements and does nothing without.
'use strict';

(function () {
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable
      || (t.tagName === 'INPUT' && t.type !== 'checkbox' && t.type !== 'radio'));
  }

  function click(id) {
    var el = document.getElementById(id);
    if (el) {
      el.click();
      return true;
    }
    return false;
  }

  // a form is sent once: a second click or key press while it is on its way does nothing (the request id makes a
  // repeated send harmless anyway)
  function sendOnce(form) {
    form.addEventListener('submit', function (e) {
      if (form.dataset.sent === '1') {
        e.preventDefault();
        return;
      }
      form.dataset.sent = '1';
    });
    // back from an error page, the form (kept by the browser's page cache) may be sent again
    window.addEventListener('pageshow', function () {
      form.dataset.sent = '';
    });
  }

  // ---------------------------------------------------------------- comparison: 1 2 t b s, z x c
  function comparison(form) {
    var keys = { '1': 'choice-a', '2': 'choice-b', 't': 'choice-tie', 'b': 'choice-both-bad', 's': 'skip-submit',
      'z': 'strength-1', 'x': 'strength-2', 'c': 'strength-3' };
    document.addEventListener('keydown', function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) {
        return;
      }
      var id = keys[e.key.toLowerCase()];
      if (id && click(id)) {
        e.preventDefault();
      }
    });
  }

  // ---------------------------------------------------------------- ranking: drag, Alt/Shift+arrows, number keys
  function ranking(form) {
    var list = document.getElementById('rank-list');
    var items = function () { return Array.prototype.slice.call(list.querySelectorAll('.rank-item')); };

    // the selects hold the ranks the server reads; they follow the order on screen
    function renumber() {
      items().forEach(function (li, i) {
        li.querySelector('.rank-select').value = String(i + 1);
      });
    }

    function moveTo(li, index) {
      var all = items();
      all.splice(all.indexOf(li), 1);
      index = Math.max(0, Math.min(all.length, index));
      list.insertBefore(li, index < all.length ? all[index] : null);
      renumber();
      li.focus();
    }

    items().forEach(function (li) {
      li.addEventListener('keydown', function (e) {
        if (e.target.tagName === 'SELECT') {
          return;
        }
        var pos = items().indexOf(li);
        if ((e.altKey || e.shiftKey) && e.key === 'ArrowUp') {
          moveTo(li, pos - 1);
          e.preventDefault();
        } else if ((e.altKey || e.shiftKey) && e.key === 'ArrowDown') {
          moveTo(li, pos + 1);
          e.preventDefault();
        } else if (!e.ctrlKey && !e.metaKey && !e.altKey && /^[1-9]$/.test(e.key)
          && Number(e.key) <= items().length) {
          moveTo(li, Number(e.key) - 1);
          e.preventDefault();
        } else if (!e.altKey && !e.shiftKey && e.key === 'ArrowUp' && pos > 0) {
          items()[pos - 1].focus();
          e.preventDefault();
        } else if (!e.altKey && !e.shiftKey && e.key === 'ArrowDown' && pos < items().length - 1) {
          items()[pos + 1].focus();
          e.preventDefault();
        }
      });
      li.querySelector('.rank-select').addEventListener('change', function (e) {
        moveTo(li, Number(e.target.value) - 1);
      });
      li.addEventListener('dragstart', function (e) {
        li.classList.add('dragging');
        e.dataTransfer.effectAllowed = 'move';
        e.dataTransfer.setData('text/plain', li.dataset.responseId);
      });
      li.addEventListener('dragend', function () {
        li.classList.remove('dragging');
        renumber();
      });
    });
    list.addEventListener('dragover', function (e) {
      var dragging = list.querySelector('.dragging');
      if (!dragging) {
        return;
      }
      e.preventDefault();
      var after = null;
      items().forEach(function (li) {
        if (li === dragging || after) {
          return;
        }
        var box = li.getBoundingClientRect();
        if (e.clientY < box.top + box.height / 2) {
          after = li;
        }
      });
      list.insertBefore(dragging, after);
    });
    list.addEventListener('drop', function (e) {
      e.preventDefault();
      renumber();
    });
    ctrlEnter(form);
    skipKey();
  }

  function ctrlEnter(form) {
    document.addEventListener('keydown', function (e) {
      if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
        e.preventDefault();
        if (form.requestSubmit) {
          form.requestSubmit();
        } else {
          form.submit();
        }
      }
    });
  }

  function skipKey() {
    document.addEventListener('keydown', function (e) {
      if (!typing(e) && !e.ctrlKey && !e.metaKey && !e.altKey && e.key === 's' && click('skip-submit')) {
        e.preventDefault();
      }
    });
  }

  // ---------------------------------------------------------------- generation progress, polled
  function jobs(section) {
    var url = section.dataset.jobsUrl;
    var table = document.getElementById('jobs-table');
    function render(list) {
      var body = table.querySelector('tbody');
      while (body.firstChild) {
        body.removeChild(body.firstChild);
      }
      list.forEach(function (j) {
        var tr = document.createElement('tr');
        var progress = document.createElement('progress');
        progress.max = Math.max(1, j.total);
        progress.value = j.done;
        var cells = [String(j.id), j.status, null, j.error || ''];
        var classes = ['', 'job-status', '', 'job-error']; // the same classes as the page the server renders
        cells.forEach(function (text, i) {
          var td = document.createElement('td');
          if (classes[i]) {
            td.className = classes[i];
          }
          if (i === 2) {
            var done = document.createElement('span');
            done.className = 'job-done';
            done.textContent = String(j.done);
            td.appendChild(progress);
            td.appendChild(document.createTextNode(' '));
            td.appendChild(done);
            td.appendChild(document.createTextNode(' / ' + j.total));
          } else {
            td.textContent = text; // text only: a model's error message is never HTML
          }
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      var empty = document.getElementById('jobs-empty');
      if (empty && list.length > 0) {
        empty.hidden = true;
      }
      return list.some(function (j) { return j.status === 'queued' || j.status === 'running'; });
    }
    function poll() {
      fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) {
          if (render(list)) {
            setTimeout(poll, 2000);
          }
        })
        .catch(function () { setTimeout(poll, 10000); });
    }
    var running = table.querySelectorAll('.job-status');
    for (var i = 0; i < running.length; i++) {
      if (running[i].textContent === 'queued' || running[i].textContent === 'running') {
        poll();
        return;
      }
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = document.getElementById('label-form');
    if (form) {
      sendOnce(form);
      if (form.dataset.task === 'comparison') {
        comparison(form);
      } else if (form.dataset.task === 'ranking') {
        ranking(form);
      } else if (form.dataset.task === 'demonstration') {
        ctrlEnter(form);
        skipKey();
      }
    }
    var section = document.getElementById('jobs');
    if (section) {
      jobs(section);
    }
    var copy = document.querySelectorAll('input[readonly]');
    for (var i = 0; i < copy.length; i++) {
      copy[i].addEventListener('focus', function (e) { e.target.select(); });
    }
  });
})();
