// Meeting mode: case notes save as the broker types, and survive a closed lid or a dropped
// connection. Without JavaScript the "Save notes" buttons post the forms as usual.
//
// - Each form marked data-autosave is sent (fetch, JSON back) a second and a half after typing stops.
// - What is typed is also kept in this browser's localStorage until the server has it, and offered
//   back if the page is reopened with unsaved text.
// - If someone else saved the same case since this page loaded, the server answers 409 with their
//   text: nothing is overwritten; both texts are shown and the broker chooses.

const DELAY = 1500;

function setup(form) {
  const key = `panel-notes:${form.dataset.autosaveKey}`;
  const status = form.querySelector("[data-autosave-status]");
  const conflict = form.querySelector("[data-autosave-conflict]");
  const version = form.querySelector("[data-autosave-version]");
  const fields = [...form.querySelectorAll("textarea")];
  const messages = {
    saving: form.dataset.msgSaving || "Saving…",
    offline: form.dataset.msgOffline || "Not saved yet: kept on this laptop, will save when the connection returns.",
    restored: form.dataset.msgRestored || "Unsaved notes from this laptop were restored. They save when you next type.",
  };
  let timer = null;
  let sending = false;

  const snapshot = () => Object.fromEntries(fields.map((field) => [field.name, field.value]));

  const keepLocally = () => {
    localStorage.setItem(key, JSON.stringify({ version: version.value, fields: snapshot() }));
  };

  const save = async () => {
    if (sending) { schedule(); return; }
    sending = true;
    status.textContent = messages.saving;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (response.ok) {
        version.value = body.version;
        localStorage.removeItem(key);
        status.textContent = body.message;
        conflict.classList.add("govuk-!-display-none");
      } else if (response.status === 409 && body.current) {
        showConflict(body);
      } else if (response.status >= 500) {
        status.textContent = messages.offline;
        schedule(10000);
      } else {
        // Refused (too long, minutes approved...): say why; retrying would not help.
        status.textContent = body.error ? body.error.message : messages.offline;
      }
    } catch (error) {
      status.textContent = messages.offline;
      schedule(10000);
    } finally {
      sending = false;
    }
  };

  const schedule = (delay = DELAY) => {
    clearTimeout(timer);
    timer = setTimeout(save, delay);
  };

  const showConflict = (body) => {
    conflict.replaceChildren();
    const message = document.createElement("p");
    message.className = "govuk-body govuk-!-font-weight-bold";
    message.textContent = body.error.message;
    conflict.append(message);
    for (const field of fields) {
      const theirs = body.current[field.name.split("-").pop()] ?? "";
      const label = document.createElement("p");
      label.className = "govuk-body-s govuk-!-margin-bottom-1";
      label.textContent = (form.querySelector(`label[for="${field.id}"]`) || {}).textContent || field.name;
      const text = document.createElement("pre");
      text.className = "app-theirs";
      text.textContent = theirs;
      conflict.append(label, text);
    }
    const useTheirs = document.createElement("button");
    useTheirs.type = "button";
    useTheirs.className = "govuk-button govuk-button--secondary govuk-!-margin-right-2";
    useTheirs.textContent = form.dataset.msgUseTheirs || "Use their text";
    useTheirs.addEventListener("click", () => {
      for (const field of fields) field.value = body.current[field.name.split("-").pop()] ?? "";
      version.value = body.current.version;
      localStorage.removeItem(key);
      conflict.classList.add("govuk-!-display-none");
    });
    const keepMine = document.createElement("button");
    keepMine.type = "button";
    keepMine.className = "govuk-button govuk-button--warning";
    keepMine.textContent = form.dataset.msgKeepMine || "Keep my text (replaces theirs)";
    keepMine.addEventListener("click", () => {
      version.value = body.current.version;
      conflict.classList.add("govuk-!-display-none");
      save();
    });
    conflict.append(useTheirs, keepMine);
    conflict.classList.remove("govuk-!-display-none");
    status.textContent = "";
  };

  // Unsaved text from an earlier visit (a closed lid, a dropped connection): put it back.
  const kept = JSON.parse(localStorage.getItem(key) || "null");
  if (kept && kept.fields) {
    const differs = fields.some((field) => (kept.fields[field.name] ?? field.value) !== field.value);
    if (differs) {
      for (const field of fields) if (field.name in kept.fields) field.value = kept.fields[field.name];
      status.textContent = messages.restored;
    } else {
      localStorage.removeItem(key);
    }
  } else if (fields.some((field) => field.value !== field.defaultValue)) {
    // Typed before this script ran (a slow connection): keep it and save it like any other typing.
    keepLocally();
    schedule();
  }

  for (const field of fields) {
    field.addEventListener("input", () => {
      keepLocally();
      status.textContent = "";
      schedule();
    });
  }
  window.addEventListener("online", () => { if (localStorage.getItem(key)) schedule(0); });
}

document.querySelectorAll("form[data-autosave]").forEach(setup);
