"""The LangGraph teacher agent and the student's fixed evidence-gathering graph."""
