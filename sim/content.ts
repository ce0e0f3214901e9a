// Word lists the data generator draws from. Plain data; nothing here is random by itself.

export const USER_NAMES = [
  'Alex Chen',
  'Maria Garcia',
  'Sam Okafor',
  'Priya Nair',
  'Jonas Weber',
  'Aiko Tanaka',
  'Liam Murphy',
  'Fatima Zahra',
  'Noah Silva',
  'Emma Dubois',
  'Omar Haddad',
  'Sofia Rossi',
];

export const SERVICES = [
  { name: 'Care Navigator', agent: 'Nova' },
  { name: 'Billing Assistant', agent: 'Penny' },
  { name: 'Wellness Coach', agent: 'Kai' },
  { name: 'Appointment Desk', agent: 'Remy' },
];

export const TOPICS = [
  'my appointment next week',
  'the bill I received',
  'refilling my prescription',
  'changing my plan',
  'a follow-up visit',
  'my sleep schedule',
  'the lab results',
  'insurance coverage',
  'a referral to a specialist',
  'my daily step goal',
];

export const USER_OPENERS = [
  'Hi, I have a question about',
  'Hello! Can you help me with',
  'I need some help with',
  'Quick question regarding',
  'Could you check',
  'I am confused about',
];

export const USER_FOLLOW_UPS = [
  'Yes, that works for me.',
  'Can you tell me more?',
  'What are my options?',
  'I am not sure, what do you suggest?',
  'That is not what I expected.',
  'Okay, thanks. What happens next?',
  'Could we do it on Thursday instead?',
  'How long will that take?',
  'Is there any cost involved?',
  'Please go ahead.',
  'Can I speak to a real person about this?',
];

export const AGENT_REPLIES = [
  'Of course, I can help with that.',
  'Let me look into that for you.',
  'Thanks for the details. Here is what I found.',
  'I understand. There are a couple of options.',
  'Good news: that is covered by your plan.',
  'I have updated that for you.',
  'Could you confirm your date of birth first?',
  'That usually takes two to three business days.',
  'I have scheduled that and sent you a confirmation.',
  'Is there anything else I can help with today?',
];

export const AGENT_GREETINGS = [
  'Hi! How can I help you today?',
  'Hello, welcome back. What can I do for you?',
  'Good to see you. What would you like to work on?',
];

export const AGENT_GOODBYES = ['Glad I could help. Take care!', 'You are all set. Have a great day!'];

export const INNER_THOUGHTS = [
  'The user seems uncertain; offer two concrete options.',
  'Need to verify identity before sharing account details.',
  'The user mentioned a date; check availability first.',
  'Tone is frustrated; acknowledge before explaining.',
  'This matches the billing dispute behaviour; follow that playbook.',
];

export const EXTERNAL_EVENTS = [
  'User opened the app from a push notification.',
  'Appointment reminder delivered.',
  'Payment of $42.00 received.',
  'Lab results became available.',
  'User switched device.',
];

export const STATES = [
  { name: 'greeting', action: 'Greet the user and ask how to help', objective: 'Understand the request' },
  { name: 'identify_need', action: 'Ask clarifying questions', objective: 'Identify the need' },
  { name: 'verify_identity', action: 'Confirm identity details', objective: 'Verify the user' },
  { name: 'resolve_request', action: 'Resolve the request with tools', objective: 'Resolve the request' },
  { name: 'schedule', action: 'Offer and book a slot', objective: 'Book an appointment' },
  { name: 'wrap_up', action: 'Summarise and close', objective: 'End the conversation well' },
];

export const EXIT_CONDITIONS = [
  'The user stated their request.',
  'The user confirmed their identity.',
  'A matching slot was found.',
  'The user asked to talk about something else.',
  'All questions were answered.',
];

export const TOOLS = [
  'lookup_appointment',
  'search_knowledge_base',
  'check_eligibility',
  'send_sms',
  'create_ticket',
  'get_invoice',
];

export const MEMORIES = [
  { content: 'Prefers morning appointments', context: 'Stated in a previous conversation' },
  { content: 'Has a dog named Biscuit', context: 'Mentioned while scheduling' },
  { content: 'Allergic to penicillin', context: 'From the intake form' },
  { content: 'Works night shifts', context: 'Said when asked about availability' },
  { content: 'Prefers text over calls', context: 'Communication preference' },
];

export const REFLECTIONS = [
  'I should have asked for the date earlier.',
  'The user responded well to a short summary.',
  'Two tool calls could have been one.',
  'The user may need a reminder tomorrow.',
];

export const RECOMMENDATIONS = [
  'Yes, please go ahead with that.',
  'Could you explain that in a bit more detail?',
  'Thanks, that answers my question.',
  'Can we pick a different time?',
  'What would it cost me?',
  'I will think about it and get back to you.',
];

export const TAG_POOL: Array<[string, Array<string | null>]> = [
  ['channel', ['web', 'sms', 'phone', 'app']],
  ['language', ['en', 'es', 'fr']],
  ['priority', ['low', 'normal', 'high', null]],
  ['region', ['north', 'south', 'east', 'west']],
  ['cohort', ['pilot', 'control', null]],
  ['campaign', ['spring', 'renewal', null]],
];
