// Signs in with a token: posted once as JSON, kept by the browser in an HttpOnly cookie.
'use strict';
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('error');
  error.textContent = '';
  const token = document.getElementById('token').value.trim();
  try {
    const res = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }), credentials: 'same-origin' });
    if (res.ok) {
      location.replace('/');
      return;
    }
    error.textContent = (await res.json().catch(() => ({}))).error || `sign-in failed (${res.status})`;
  } catch (err) {
    error.textContent = `cannot reach the scheduler: ${err.message}`;
  }
});
